using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;
using BlockDaemon.Nbd.Protocol;

namespace BlockDaemon.Nbd.Client;

/// <summary>Block-layer requests as NBD commands through an <see cref="NbdClientSession"/>.</summary>
public sealed class NbdClientDriver : IBlockDriver
{
    private readonly NbdClientSession _connection;
    private readonly NbdTransmissionFlags _flags;

    public NbdClientDriver(NbdClientSession connection, string displayName)
    {
        _connection = connection;
        _flags = connection.Info.Flags;
        DisplayName = displayName;
        Length = (long)connection.Info.Size;
        Limits = new DriverLimits
        {
            RequestAlignment = (int)connection.Info.MinimumBlockSize,
            MaxTransfer = (int)connection.Info.MaximumBlockSize,
            SupportsFua = Has(NbdTransmissionFlags.SendFua),
            SupportsWriteZeroes = Has(NbdTransmissionFlags.SendWriteZeroes),
            SupportsDiscard = Has(NbdTransmissionFlags.SendTrim),
        };
    }

    public string DriverName => "nbd";
    public DriverLimits Limits { get; }
    public long Length { get; }
    public string DisplayName { get; }
    public long? AllocatedBytes => null;

    // Zeroes, discards and status queries carry no payload, but their length field is 32 bits.
    private long MaxRangeLength => uint.MaxValue & ~(long)(Limits.RequestAlignment - 1) & ~0xFFFL;

    public async ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken ct) =>
        await _connection.RunAsync(NbdCommand.Read, NbdCommandFlags.None, (ulong)offset, (uint)buffer.Length, buffer, default, "read", ct).ConfigureAwait(false);

    public async ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, WriteFlags flags, CancellationToken ct) =>
        await _connection.RunAsync(NbdCommand.Write, FuaFlag(flags), (ulong)offset, (uint)data.Length, default, data, "write", ct).ConfigureAwait(false);

    public async ValueTask WriteZeroesAsync(long offset, long length, WriteFlags flags, CancellationToken ct)
    {
        var wire = FuaFlag(flags) | ((flags & WriteFlags.MayUnmap) == 0 ? NbdCommandFlags.NoHole : 0);
        if ((flags & WriteFlags.NoFallback) != 0)
        {
            if (!Has(NbdTransmissionFlags.SendFastZero))
            {
                throw new BlockException(BlockErrorKind.NotSupported, "The NBD server cannot write zeroes fast");
            }
            wire |= NbdCommandFlags.FastZero;
        }
        for (long done = 0; done < length;)
        {
            long chunk = Math.Min(length - done, MaxRangeLength);
            await _connection.RunAsync(NbdCommand.WriteZeroes, wire, (ulong)(offset + done), (uint)chunk, default, default, "write zeroes", ct).ConfigureAwait(false);
            done += chunk;
        }
    }

    public async ValueTask DiscardAsync(long offset, long length, CancellationToken ct)
    {
        for (long done = 0; done < length;)
        {
            long chunk = Math.Min(length - done, MaxRangeLength);
            await _connection.RunAsync(NbdCommand.Trim, NbdCommandFlags.None, (ulong)(offset + done), (uint)chunk, default, default, "discard", ct).ConfigureAwait(false);
            done += chunk;
        }
    }

    public async ValueTask FlushAsync(CancellationToken ct)
    {
        if (Has(NbdTransmissionFlags.SendFlush))
        {
            await _connection.RunAsync(NbdCommand.Flush, NbdCommandFlags.None, 0, 0, default, default, "flush", ct).ConfigureAwait(false);
        }
    }

    public async ValueTask<BlockStatus> BlockStatusAsync(long offset, long length, CancellationToken ct)
    {
        var data = new BlockStatus(length, BlockStatusFlags.Data | BlockStatusFlags.Allocated, offset);
        if (_connection.Info.AllocationContextId is null)
        {
            // Without base:allocation everything is data, as qemu assumes.
            return data;
        }
        uint query = (uint)Math.Min(length, MaxRangeLength);
        var request = await _connection.RunAsync(NbdCommand.BlockStatus, NbdCommandFlags.ReqOne, (ulong)offset, query, default, default, "block status", ct).ConfigureAwait(false);
        if (request.Extent is not { } extent)
        {
            throw NbdClientErrors.ConnectionLost("the server sent no base:allocation extent");
        }
        long extentLength = Math.Min(extent.Length, query);
        uint flags = extent.Flags;
        if (_connection.Options.AllocationDepth && flags > 2)
        {
            // As qemu: a depth read through x-dirty-bitmap keeps only the two bits block status has.
            flags = 2;
        }
        var allocation = (NbdAllocationFlags)flags;
        var status = (allocation & NbdAllocationFlags.Hole) == 0 ? BlockStatusFlags.Data | BlockStatusFlags.Allocated : BlockStatusFlags.None;
        if ((allocation & NbdAllocationFlags.Zero) != 0)
        {
            status |= BlockStatusFlags.Zero | BlockStatusFlags.Allocated;
        }
        return new BlockStatus(extentLength, status, (status & BlockStatusFlags.Data) != 0 ? offset : -1);
    }

    public ValueTask TruncateAsync(long length, CancellationToken ct) =>
        throw new BlockException(BlockErrorKind.NotSupported, "Cannot resize an NBD export");

    public (BlockPermissions Perm, BlockPermissions Shared) ChildPermissions(BlockChild child, BlockPermissions parentPerm, BlockPermissions parentShared) =>
        (BlockPermissions.None, BlockPermissions.All);

    public void CheckPermissions(BlockPermissions perm, BlockPermissions shared)
    {
    }

    public void SetPermissions(BlockPermissions perm, BlockPermissions shared)
    {
    }

    public ValueTask DisposeAsync() => _connection.DisposeAsync();

    private bool Has(NbdTransmissionFlags flag) => (_flags & flag) != 0;

    private NbdCommandFlags FuaFlag(WriteFlags flags) =>
        (flags & WriteFlags.Fua) != 0 && Has(NbdTransmissionFlags.SendFua) ? NbdCommandFlags.Fua : NbdCommandFlags.None;
}
