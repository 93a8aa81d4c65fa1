namespace BlockDaemon.Nbd.Server.MetaContexts;

/// <summary>How a LIST/SET_META_CONTEXT query selects contexts, as qemu 7.2 reads queries.</summary>
internal static class NbdMetaContextQuery
{
    /// <summary>
    /// A query selects a context by its exact name; for LIST, one of the namespaces qemu knows
    /// ("base:", "qemu:", "qemu:dirty-bitmap:") also selects every context under it. Nothing else
    /// is a wildcard: "qemu:dirty-bitmap:a:" does not list a bitmap named "a:b", as in qemu.
    /// SET needs exact names, so a client cannot turn on contexts it never named.
    /// </summary>
    public static bool Selects(string query, string contextName, bool list) =>
        query == contextName || (list && IsNamespace(query) && contextName.StartsWith(query, StringComparison.Ordinal));

    private static bool IsNamespace(string query) => query is "base:" or "qemu:" or DirtyBitmapContext.Prefix;
}
