namespace BlockDaemon.Nbd.Server;

/// <summary>
/// The metadata contexts this server knows. Only base:allocation for now; queries for any other
/// namespace (qemu:dirty-bitmap:..., qemu:allocation-depth) match nothing, which is how the spec
/// says to answer unknown contexts.
/// </summary>
internal static class NbdMetaContexts
{
    public const string BaseAllocation = "base:allocation";

    /// <summary>qemu numbers base:allocation 0; ids only need to be unique per connection.</summary>
    public const uint BaseAllocationId = 0;

    /// <summary>
    /// Whether a query selects base:allocation. For LIST, a bare namespace ("base:") selects every
    /// context in it; SET needs exact names.
    /// </summary>
    public static bool MatchesBaseAllocation(string query, bool list) =>
        query == BaseAllocation || (list && query == "base:");
}
