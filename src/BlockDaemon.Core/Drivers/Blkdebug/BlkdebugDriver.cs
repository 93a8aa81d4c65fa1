using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;

namespace BlockDaemon.Core.Drivers.Blkdebug;

/// <summary>
/// A filter that passes every request to its "image" child unless a rule says to fail it
/// (QEMU's blkdebug). Its parents' debug events drive the rules; its own limits (align,
/// max-transfer) make the generic path align and split what reaches it, and write-zeroes and
/// discard are cut into pieces of at most max-write-zero / max-discard bytes here.
/// </summary>
public sealed class BlkdebugDriver : IBlockDriver, IDebugEventTarget, IFilterDriver
{
    private readonly BlockChild _image;
    private readonly BlkdebugRules _rules;
    private readonly BlkdebugLimits _options;

    // Writes that reached this node, and how many of them the last successful flush covered:
    // as in QEMU, a flush with nothing new to write out never reaches the flush rules.
    private long _writes;
    private long _flushedWrites;

    internal BlkdebugDriver(BlockChild image, BlkdebugRules rules, BlkdebugLimits options)
    {
        _image = image;
        _rules = rules;
        _options = options;
        var child = image.Node.Driver.Limits;
        int align = Math.Max(options.Align, child.RequestAlignment);
        Limits = new DriverLimits
        {
            RequestAlignment = align,
            MaxTransfer = options.MaxTransfer > 0 ? Math.Min(options.MaxTransfer, child.MaxTransfer) : child.MaxTransfer,
            // FUA goes down only where the child honours it; elsewhere the generic path flushes
            // this node after the write, which the flush rules see, as in QEMU.
            SupportsFua = child.SupportsFua,
            SupportsWriteZeroes = true,
            SupportsDiscard = true,
            SupportsTruncate = true,
        };
    }

    public BlockChild? FilteredChild => _image;

    public string DriverName => "blkdebug";
    public DriverLimits Limits { get; }
    public long Length => _image.Length;
    public string DisplayName => _image.Node.Driver.DisplayName;
    public long? AllocatedBytes => _image.Node.Driver.AllocatedBytes;

    public BlkdebugRules Rules => _rules;

    public void OnDebugEvent(DebugEvent debugEvent) => _rules.OnEvent(debugEvent);

    public async ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken ct)
    {
        await CheckAsync(offset, buffer.Length, BlkdebugIoType.Read).ConfigureAwait(false);
        await _image.ReadAsync(offset, buffer, ct).ConfigureAwait(false);
    }

    public async ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, WriteFlags flags, CancellationToken ct)
    {
        await CheckAsync(offset, data.Length, BlkdebugIoType.Write).ConfigureAwait(false);
        Interlocked.Increment(ref _writes);
        await _image.WriteAsync(offset, data, flags, ct).ConfigureAwait(false);
    }

    public async ValueTask WriteZeroesAsync(long offset, long length, WriteFlags flags, CancellationToken ct)
    {
        await CheckAsync(offset, length, BlkdebugIoType.WriteZeroes).ConfigureAwait(false);
        Interlocked.Increment(ref _writes);
        long piece = _options.MaxWriteZero > 0 ? _options.MaxWriteZero : length;
        for (long done = 0; done < length; done += piece)
        {
            await _image.WriteZeroesAsync(offset + done, Math.Min(piece, length - done), flags, ct).ConfigureAwait(false);
        }
    }

    public async ValueTask DiscardAsync(long offset, long length, CancellationToken ct)
    {
        await CheckAsync(offset, length, BlkdebugIoType.Discard).ConfigureAwait(false);
        Interlocked.Increment(ref _writes);
        long piece = _options.MaxDiscard > 0 ? _options.MaxDiscard : length;
        for (long done = 0; done < length; done += piece)
        {
            await _image.DiscardAsync(offset + done, Math.Min(piece, length - done), ct).ConfigureAwait(false);
        }
    }

    public async ValueTask FlushAsync(CancellationToken ct)
    {
        long writes = Interlocked.Read(ref _writes);
        if (writes != Interlocked.Read(ref _flushedWrites))
        {
            await CheckAsync(0, 0, BlkdebugIoType.Flush).ConfigureAwait(false);
        }
        await _image.FlushAsync(ct).ConfigureAwait(false);
        long seen;
        do
        {
            seen = Interlocked.Read(ref _flushedWrites);
        }
        while (seen < writes && Interlocked.CompareExchange(ref _flushedWrites, writes, seen) != seen);
    }

    public async ValueTask<BlockStatus> BlockStatusAsync(long offset, long length, CancellationToken ct)
    {
        await CheckAsync(offset, length, BlkdebugIoType.BlockStatus).ConfigureAwait(false);
        return await _image.BlockStatusAsync(offset, length, ct).ConfigureAwait(false);
    }

    public ValueTask TruncateAsync(long length, CancellationToken ct) => _image.TruncateAsync(length, ct);

    private async ValueTask CheckAsync(long offset, long length, BlkdebugIoType type)
    {
        if (_rules.Check(offset, length, type) is not { } rule)
        {
            return;
        }
        if (!rule.Immediately)
        {
            // QEMU lets other coroutines run before it fails the request.
            await Task.Yield();
        }
        throw new BlockException(rule.Errno == 28 ? BlockErrorKind.NoSpace : BlockErrorKind.IoError, Errno.Text(rule.Errno)) { Errno = rule.Errno };
    }

    // A filter: the parents' needs pass through, adjusted by take-child-perms/unshare-child-perms.
    public (BlockPermissions Perm, BlockPermissions Shared) ChildPermissions(BlockChild child, BlockPermissions parentPerm, BlockPermissions parentShared)
    {
        var perm = (parentPerm & BlockPermissions.Passthrough) | _options.TakeChildPerms;
        var shared = ((parentShared & BlockPermissions.Passthrough) | (BlockPermissions.All & ~BlockPermissions.Passthrough)) & ~_options.UnshareChildPerms;
        return (perm, shared);
    }

    public void CheckPermissions(BlockPermissions perm, BlockPermissions shared)
    {
    }

    public void SetPermissions(BlockPermissions perm, BlockPermissions shared)
    {
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
