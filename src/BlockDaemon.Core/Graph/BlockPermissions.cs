namespace BlockDaemon.Core.Graph;

/// <summary>
/// What a user of a node does with it (QEMU's BLK_PERM_*; the bit values are the ones QEMU uses
/// for its image lock bytes, so our file locks interoperate with qemu's).
/// </summary>
[Flags]
public enum BlockPermissions
{
    None = 0,
    /// <summary>Reads return data consistent with what was written (not a moving target).</summary>
    ConsistentRead = 0x01,
    /// <summary>Writes that change what the node's users read.</summary>
    Write = 0x02,
    /// <summary>Writes that leave the content unchanged (copy-on-read, mirror targets in sync).</summary>
    WriteUnchanged = 0x04,
    /// <summary>Changing the node's size.</summary>
    Resize = 0x08,
    /// <summary>Reserved by QEMU for graph changes; kept for lock-byte compatibility.</summary>
    GraphMod = 0x10,

    All = ConsistentRead | Write | WriteUnchanged | Resize | GraphMod,
    /// <summary>The permissions a filter passes from its parents to its child unchanged.</summary>
    Passthrough = ConsistentRead | Write | WriteUnchanged | Resize,
}

public static class BlockPermissionsExtensions
{
    /// <summary>The bits in QEMU's order, used for lock bytes and for listing.</summary>
    public static readonly BlockPermissions[] Bits =
    [
        BlockPermissions.ConsistentRead,
        BlockPermissions.Write,
        BlockPermissions.WriteUnchanged,
        BlockPermissions.Resize,
        BlockPermissions.GraphMod,
    ];

    /// <summary>Schema names (BlockPermission enum), as x-debug-query-block-graph lists them.</summary>
    public static string SchemaName(this BlockPermissions bit) => bit switch
    {
        BlockPermissions.ConsistentRead => "consistent-read",
        BlockPermissions.Write => "write",
        BlockPermissions.WriteUnchanged => "write-unchanged",
        BlockPermissions.Resize => "resize",
        _ => "graph-mod",
    };

    /// <summary>Human names, as QEMU's error messages spell them.</summary>
    public static string HumanName(this BlockPermissions bit) => bit switch
    {
        BlockPermissions.ConsistentRead => "consistent read",
        BlockPermissions.Write => "write",
        BlockPermissions.WriteUnchanged => "write unchanged",
        BlockPermissions.Resize => "resize",
        _ => "change children",
    };

    /// <summary>"'write', 'resize'"-style list for messages.</summary>
    public static string Describe(this BlockPermissions perms) =>
        string.Join(", ", Bits.Where(b => (perms & b) != 0).Select(b => b.HumanName()));
}
