using BlockDaemon.Core.Errors;

namespace BlockDaemon.Core.Graph;

public sealed partial class BlockNode
{
    private readonly List<string> _blockers = [];

    /// <summary>
    /// Why the node may not be deleted or used by another job right now (QEMU's op blockers, as
    /// "block device is in use by block job: stream"), newest first; empty when it is free.
    /// </summary>
    public IReadOnlyList<string> Blockers => _blockers;

    /// <summary>Adds a reason; control loop only.</summary>
    public void AddBlocker(string reason) => _blockers.Insert(0, reason);

    public void RemoveBlocker(string reason) => _blockers.Remove(reason);

    /// <summary>Refuses, in qsd's words, when the node is blocked.</summary>
    public void CheckNotBlocked()
    {
        if (_blockers.Count > 0)
        {
            throw new BlockException(BlockErrorKind.Busy, $"Node '{NodeName}' is busy: {_blockers[0]}");
        }
    }
}
