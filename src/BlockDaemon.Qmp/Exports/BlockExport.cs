using BlockDaemon.Nbd.Server;

namespace BlockDaemon.Qmp.Exports;

/// <summary>An export added by block-export-add (blockd has NBD exports only).</summary>
public sealed class BlockExport(string id, NbdExport nbd)
{
    public string Id { get; } = id;

    /// <summary>The node served now: a pivot (external snapshot, active commit) moves the export's edge to another node.</summary>
    public string NodeName => Nbd.Child.Node.NodeName;

    public NbdExport Nbd { get; } = nbd;

    /// <summary>Set once removal began; the export stays listed until its last client is gone.</summary>
    public bool ShuttingDown { get; set; }
}
