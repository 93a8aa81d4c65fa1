using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Io;

namespace BlockDaemon.Core.Graph;

/// <summary>
/// An edge from a parent (node or user) to a node, and the only handle anyone does I/O through.
/// The edge checks that its holder took the permission a request needs; the node's generic path
/// does the rest (bounds, alignment, splitting, tracking, thresholds, statistics).
/// </summary>
public sealed class BlockChild
{
    internal BlockChild(IBlockParent parent, BlockNode node, string role, BlockPermissions perm, BlockPermissions shared)
    {
        Parent = parent;
        _node = node;
        Role = role;
        Perm = perm;
        Shared = shared;
    }

    public IBlockParent Parent { get; }

    /// <summary>
    /// The node this edge points at. A graph change that pivots parents onto another node (an
    /// external snapshot's overlay, a finished commit's base: BlockGraph.ReplaceNodeAsync) retargets the edge while the old
    /// node is drained; requests held by that drain follow the edge to the new node.
    /// </summary>
    public BlockNode Node
    {
        get => Volatile.Read(ref _node);
        internal set => Volatile.Write(ref _node, value);
    }

    private BlockNode _node;

    /// <summary>The edge's name: "file", "backing", "root", "target", ...</summary>
    public string Role { get; }

    /// <summary>What the parent does with the node.</summary>
    public BlockPermissions Perm { get; internal set; }

    /// <summary>What the parent lets others do with the node.</summary>
    public BlockPermissions Shared { get; internal set; }

    /// <summary>
    /// How many holders froze this link (QEMU's BdrvChild.frozen: a job or a copy-on-read
    /// node with a bottom relies on the chain staying as it is); a frozen link is not
    /// retargeted by a reopen.
    /// </summary>
    public int FrozenCount { get; internal set; }

    public bool Frozen => FrozenCount > 0;

    public long Length => Node.Length;

    public ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken ct = default) =>
        Node.ReadAsync(offset, buffer, ct, this);

    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, WriteFlags flags = WriteFlags.None, CancellationToken ct = default)
    {
        RequireWrite();
        return Node.WriteAsync(offset, data, flags, ct, this);
    }

    public ValueTask WriteZeroesAsync(long offset, long length, WriteFlags flags = WriteFlags.None, CancellationToken ct = default)
    {
        RequireWrite();
        return Node.WriteZeroesAsync(offset, length, flags, ct, this);
    }

    public ValueTask DiscardAsync(long offset, long length, CancellationToken ct = default)
    {
        RequireWrite();
        return Node.DiscardAsync(offset, length, ct, this);
    }

    public ValueTask FlushAsync(CancellationToken ct = default) => Node.FlushAsync(ct, this);

    /// <summary>
    /// For a parent that relies on a range reading as zeroes where QEMU would write zeroes (a
    /// fresh qcow2 cluster in a file grown ahead): the node's wr_highest_offset then counts the
    /// range up to <paramref name="end"/> as QEMU's write-zeroes there would.
    /// </summary>
    public void CountZeroFillTo(long end) => Node.Statistics.WriteReached(end);

    public ValueTask<BlockStatus> BlockStatusAsync(long offset, long length, CancellationToken ct = default) =>
        Node.BlockStatusAsync(offset, length, ct, this);

    public ValueTask TruncateAsync(long length, CancellationToken ct = default)
    {
        if ((Perm & BlockPermissions.Resize) == 0)
        {
            ThrowHelper.MissingPermission(Node.NodeName, "resize");
        }
        return Node.TruncateAsync(length, ct);
    }

    /// <summary>
    /// Tells the node what its parent is about to do through this edge (QEMU's BLKDBG_EVENT);
    /// only a blkdebug node listens, for every other driver this is a type check.
    /// </summary>
    public void RaiseDebugEvent(DebugEvent debugEvent)
    {
        if (Node.Driver is IDebugEventTarget target)
        {
            target.OnDebugEvent(debugEvent);
        }
    }

    private void RequireWrite()
    {
        if ((Perm & (BlockPermissions.Write | BlockPermissions.WriteUnchanged)) == 0)
        {
            ThrowHelper.MissingPermission(Node.NodeName, "write");
        }
    }

    public override string ToString() => $"{Parent.ParentDescription} -[{Role}]-> {Node.NodeName}";
}
