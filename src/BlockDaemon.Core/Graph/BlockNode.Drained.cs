namespace BlockDaemon.Core.Graph;

public sealed partial class BlockNode
{
    /// <summary>
    /// Runs <paramref name="action"/> with the node drained: no request of its parents is in
    /// flight and new ones wait until it ends (QEMU's bdrv_drained_begin/end around snapshots).
    /// Jobs using the node or a node above it are paused meanwhile. Control loop only.
    /// </summary>
    public async ValueTask<T> RunDrainedAsync<T>(Func<CancellationToken, ValueTask<T>> action, CancellationToken ct = default)
    {
        var drained = await Graph.DrainedBeginAsync(this, ct).ConfigureAwait(false);
        try
        {
            return await action(ct).ConfigureAwait(false);
        }
        catch (Errors.BlockException e) when (IsUnsignalledCorruption(e))
        {
            // Drained operations (snapshots) walk metadata too: what they find is reported like I/O's findings.
            await SignalCorruptionAsync(e).ConfigureAwait(false);
            throw;
        }
        finally
        {
            drained.End();
        }
    }
}
