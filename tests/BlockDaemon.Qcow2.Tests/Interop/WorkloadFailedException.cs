namespace BlockDaemon.Qcow2.Tests.Interop;

/// <summary>Our driver threw while applying op <see cref="Index"/> of a workload.</summary>
internal sealed class WorkloadFailedException(int index, WorkloadOp op, Exception inner)
    : Exception($"Our driver failed op #{index} ({op}): {inner.GetType().Name}: {inner.Message}", inner)
{
    public int Index { get; } = index;

    public WorkloadOp Op { get; } = op;
}
