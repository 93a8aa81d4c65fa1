namespace BlockDaemon.Core.Graph;

/// <summary>
/// A user of a node that is not itself a node (QEMU's BlockBackend): an export, a job, or a
/// command that needs the node for a moment (block_resize). It holds one 'root' edge.
/// </summary>
public sealed class BlockUser : IBlockParent
{
    public BlockUser(string? name)
    {
        Name = name;
    }

    /// <summary>The device name shown by query-block; null for anonymous users.</summary>
    public string? Name { get; }

    public BlockChild? Root { get; internal set; }

    public string ParentDescription => Name is null ? "an unnamed block device" : $"block device '{Name}'";
}
