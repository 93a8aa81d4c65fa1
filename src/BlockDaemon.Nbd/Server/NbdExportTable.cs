using System.Collections.Concurrent;
using BlockDaemon.Core.Errors;

namespace BlockDaemon.Nbd.Server;

/// <summary>
/// The exports a server offers, by name. Changed on the control plane, read by handshakes on the
/// data plane; a connection keeps the export it opened even if the name is removed afterwards.
/// </summary>
public sealed class NbdExportTable
{
    private readonly ConcurrentDictionary<string, NbdExport> _exports = new(StringComparer.Ordinal);

    public NbdExport? Find(string name) => _exports.GetValueOrDefault(name);

    /// <summary>Exports in name order, so LIST answers are stable.</summary>
    public IReadOnlyList<NbdExport> All => [.. _exports.Values.OrderBy(e => e.Name, StringComparer.Ordinal)];

    public void Add(NbdExport export)
    {
        if (!_exports.TryAdd(export.Name, export))
        {
            throw BlockException.Invalid($"NBD server already has an export named '{export.Name}'");
        }
    }

    public NbdExport? Remove(string name) => _exports.TryRemove(name, out var export) ? export : null;
}
