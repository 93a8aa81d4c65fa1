namespace BlockDaemon.Nbd.Server;

/// <summary>
/// base:allocation, which every export offers. An export's qemu:dirty-bitmap contexts are
/// matched by <see cref="NbdDirtyBitmapContext"/>; queries for anything else match nothing,
/// which is how the spec says to answer unknown contexts.
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
