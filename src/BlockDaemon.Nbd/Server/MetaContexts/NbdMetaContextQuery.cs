namespace BlockDaemon.Nbd.Server.MetaContexts;

/// <summary>How a LIST/SET_META_CONTEXT query selects contexts, as qemu 7.2 reads queries.</summary>
internal static class NbdMetaContextQuery
{
    /// <summary>
    /// A query selects a context by its exact name; for LIST, a query ending in ':' (a namespace
    /// such as "base:" or "qemu:", or "qemu:dirty-bitmap:") also selects every context under it.
    /// SET needs exact names, so a client cannot turn on contexts it never named.
    /// </summary>
    public static bool Selects(string query, string contextName, bool list) =>
        query == contextName || (list && query.Length > 0 && query[^1] == ':' && contextName.StartsWith(query, StringComparison.Ordinal));
}
