using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Text;
using BlockDaemon.Core.Errors;
using BlockDaemon.Nbd.Protocol;

namespace BlockDaemon.Nbd.Client;

/// <summary>
/// One transmission-phase connection carrying many requests at once: senders take turns on the
/// socket (a request and its data go out as one unit), and one reader task matches replies to
/// requests by cookie. When the connection breaks, every waiting and later request fails with EIO.
/// </summary>
public sealed class NbdClientConnection : IAsyncDisposable
{
    // Largest non-data chunk payload we accept: a BLOCK_STATUS of MaxExtents descriptors.
    private const int MaxMetadataPayload = 4 + (8 * NbdLimits.MaxExtents);

    private readonly Socket _socket;
    // The socket's stream, or the TLS stream over it.
    private readonly Stream _stream;
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private readonly ConcurrentDictionary<ulong, NbdPendingRequest> _pending = new();
    private readonly Task _reader;
    private long _nextCookie;
    private volatile Exception? _broken;

    public NbdClientConnection(Socket socket, Stream stream, NbdExportInfo info)
    {
        _socket = socket;
        _stream = stream;
        Info = info;
        _reader = Task.Run(ReadRepliesAsync);
    }

    public NbdExportInfo Info { get; }

    public bool IsBroken => _broken is not null;

    internal async ValueTask<NbdPendingRequest> SendAsync(NbdCommand command, NbdCommandFlags flags, ulong offset, uint length,
        Memory<byte> readBuffer, ReadOnlyMemory<byte> writeData, CancellationToken ct)
    {
        ThrowIfBroken();
        ulong cookie = (ulong)Interlocked.Increment(ref _nextCookie);
        var request = new NbdPendingRequest(command, offset, length, readBuffer);
        _pending[cookie] = request;
        byte[] header = ArrayPool<byte>.Shared.Rent(NbdRequest.Size);
        try
        {
            // C: magic 32; flags 16; type 16; cookie 64; offset 64; length 32
            BinaryPrimitives.WriteUInt32BigEndian(header, NbdMagic.Request);
            BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(4), (ushort)flags);
            BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(6), (ushort)command);
            BinaryPrimitives.WriteUInt64BigEndian(header.AsSpan(8), cookie);
            BinaryPrimitives.WriteUInt64BigEndian(header.AsSpan(16), offset);
            BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(24), length);
            // Once a request is partly sent it must be finished, whatever the caller's token says.
            await _sendLock.WaitAsync(ct).ConfigureAwait(false);
            try
            {
                ThrowIfBroken();
                await _stream.WriteAsync(header.AsMemory(0, NbdRequest.Size), CancellationToken.None).ConfigureAwait(false);
                if (!writeData.IsEmpty)
                {
                    await _stream.WriteAsync(writeData, CancellationToken.None).ConfigureAwait(false);
                }
            }
            finally
            {
                _sendLock.Release();
            }
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            Break(e);
            _pending.TryRemove(cookie, out _);
            throw NbdClientErrors.ConnectionLost(e.Message);
        }
        catch
        {
            _pending.TryRemove(cookie, out _);
            throw;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(header);
        }
        return request;
    }

    /// <summary>Sends a request and waits for its whole reply; a server error becomes a <see cref="BlockException"/>.</summary>
    internal async ValueTask<NbdPendingRequest> RunAsync(NbdCommand command, NbdCommandFlags flags, ulong offset, uint length,
        Memory<byte> readBuffer, ReadOnlyMemory<byte> writeData, string operation, CancellationToken ct)
    {
        var request = await SendAsync(command, flags, offset, length, readBuffer, writeData, ct).ConfigureAwait(false);
        await request.Completion.ConfigureAwait(false);
        if (request.Error != 0)
        {
            throw NbdClientErrors.FromReply(request.Error, request.ErrorMessage, operation);
        }
        return request;
    }

    private void ThrowIfBroken()
    {
        if (_broken is { } error)
        {
            throw NbdClientErrors.ConnectionLost(error.Message);
        }
    }

    private void Break(Exception reason)
    {
        _broken ??= reason;
        var lost = NbdClientErrors.ConnectionLost(reason.Message);
        foreach (var cookie in _pending.Keys)
        {
            if (_pending.TryRemove(cookie, out var request))
            {
                request.Fail(lost);
            }
        }
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
    }

    private async Task ReadRepliesAsync()
    {
        byte[] header = new byte[20];
        try
        {
            while (true)
            {
                await _stream.ReadExactlyAsync(header.AsMemory(0, 4)).ConfigureAwait(false);
                uint magic = BinaryPrimitives.ReadUInt32BigEndian(header);
                if (magic == NbdMagic.SimpleReply)
                {
                    await ReadSimpleReplyAsync(header).ConfigureAwait(false);
                }
                else if (magic == NbdMagic.StructuredReply && Info.StructuredReplies)
                {
                    await ReadChunkAsync(header).ConfigureAwait(false);
                }
                else
                {
                    NbdProtocolException.Throw($"Bad reply magic 0x{magic:x8}");
                }
            }
        }
        catch (EndOfStreamException)
        {
            Break(new IOException("the server closed the connection"));
        }
        catch (Exception e)
        {
            Break(e);
        }
    }

    // S: magic 32; error 32; cookie 64; then a READ's data when error is 0
    private async ValueTask ReadSimpleReplyAsync(byte[] header)
    {
        await _stream.ReadExactlyAsync(header.AsMemory(4, 12)).ConfigureAwait(false);
        uint error = BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(4));
        var request = Take(BinaryPrimitives.ReadUInt64BigEndian(header.AsSpan(8)));
        if (request.Command == NbdCommand.Read && error == 0)
        {
            await _stream.ReadExactlyAsync(request.ReadBuffer).ConfigureAwait(false);
        }
        request.Error = error;
        request.Complete();
    }

    // S: magic 32; flags 16; type 16; cookie 64; length 32; then the payload
    private async ValueTask ReadChunkAsync(byte[] header)
    {
        await _stream.ReadExactlyAsync(header.AsMemory(4, 16)).ConfigureAwait(false);
        var flags = (NbdReplyFlags)BinaryPrimitives.ReadUInt16BigEndian(header.AsSpan(4));
        var type = (NbdReplyChunkType)BinaryPrimitives.ReadUInt16BigEndian(header.AsSpan(6));
        ulong cookie = BinaryPrimitives.ReadUInt64BigEndian(header.AsSpan(8));
        uint length = BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(16));
        if (!_pending.TryGetValue(cookie, out var request))
        {
            NbdProtocolException.Throw($"Reply for unknown cookie {cookie}");
        }
        if (type == NbdReplyChunkType.OffsetData && request.Command == NbdCommand.Read)
        {
            await ReadOffsetDataAsync(request, length).ConfigureAwait(false);
        }
        else
        {
            if (length > MaxMetadataPayload)
            {
                NbdProtocolException.Throw($"Reply chunk of {length} bytes is too large");
            }
            byte[] payload = ArrayPool<byte>.Shared.Rent((int)length);
            try
            {
                await _stream.ReadExactlyAsync(payload.AsMemory(0, (int)length)).ConfigureAwait(false);
                ApplyChunk(request, type, payload.AsSpan(0, (int)length));
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(payload);
            }
        }
        if ((flags & NbdReplyFlags.Done) != 0)
        {
            Take(cookie).Complete();
        }
    }

    private async ValueTask ReadOffsetDataAsync(NbdPendingRequest request, uint length)
    {
        byte[] offsetBytes = new byte[8];
        if (length < 9)
        {
            NbdProtocolException.Throw("OFFSET_DATA chunk too short");
        }
        await _stream.ReadExactlyAsync(offsetBytes).ConfigureAwait(false);
        ulong offset = BinaryPrimitives.ReadUInt64BigEndian(offsetBytes);
        ulong dataLength = length - 8u;
        if (offset < request.Offset || offset - request.Offset + dataLength > request.Length)
        {
            NbdProtocolException.Throw("OFFSET_DATA chunk outside the requested range");
        }
        await _stream.ReadExactlyAsync(request.ReadBuffer.Slice((int)(offset - request.Offset), (int)dataLength)).ConfigureAwait(false);
    }

    private void ApplyChunk(NbdPendingRequest request, NbdReplyChunkType type, ReadOnlySpan<byte> payload)
    {
        switch (type)
        {
            case NbdReplyChunkType.None:
                break;
            case NbdReplyChunkType.OffsetHole when request.Command == NbdCommand.Read && payload.Length == 12:
            {
                ulong offset = BinaryPrimitives.ReadUInt64BigEndian(payload);
                uint holeLength = BinaryPrimitives.ReadUInt32BigEndian(payload[8..]);
                if (offset < request.Offset || offset - request.Offset + holeLength > request.Length)
                {
                    NbdProtocolException.Throw("OFFSET_HOLE chunk outside the requested range");
                }
                request.ReadBuffer.Span.Slice((int)(offset - request.Offset), (int)holeLength).Clear();
                break;
            }
            case NbdReplyChunkType.BlockStatus when request.Command == NbdCommand.BlockStatus && payload.Length >= 12:
            {
                uint context = BinaryPrimitives.ReadUInt32BigEndian(payload);
                uint extentLength = BinaryPrimitives.ReadUInt32BigEndian(payload[4..]);
                if (context == Info.AllocationContextId && extentLength > 0 && request.Extent is null)
                {
                    request.Extent = new NbdExtent(extentLength, BinaryPrimitives.ReadUInt32BigEndian(payload[8..]));
                }
                break;
            }
            case NbdReplyChunkType.Error or NbdReplyChunkType.ErrorOffset when payload.Length >= 6:
            {
                uint error = BinaryPrimitives.ReadUInt32BigEndian(payload);
                int messageLength = BinaryPrimitives.ReadUInt16BigEndian(payload[4..]);
                if (request.Error == 0)
                {
                    // Error 0 in an error chunk is a server bug; treat it as EIO rather than success.
                    request.Error = error == 0 ? NbdErrno.EIo : error;
                    request.ErrorMessage = Encoding.UTF8.GetString(payload.Slice(6, Math.Min(messageLength, payload.Length - 6)));
                }
                break;
            }
            default:
                if (((ushort)type & 0x8000) != 0)
                {
                    request.Error = request.Error == 0 ? NbdErrno.EIo : request.Error;
                    break;
                }
                NbdProtocolException.Throw($"Unexpected reply chunk type {(ushort)type} for {request.Command}");
                break;
        }
    }

    private NbdPendingRequest Take(ulong cookie)
    {
        if (!_pending.TryRemove(cookie, out var request))
        {
            NbdProtocolException.Throw($"Reply for unknown cookie {cookie}");
        }
        return request;
    }

    public async ValueTask DisposeAsync()
    {
        if (!IsBroken)
        {
            try
            {
                // NBD_CMD_DISC has no reply; the server closes the connection, ending the reader.
                await SendAsync(NbdCommand.Disconnect, NbdCommandFlags.None, 0, 0, default, default, CancellationToken.None).ConfigureAwait(false);
                _pending.Clear();
            }
            catch (BlockException)
            {
            }
        }
        Break(new ObjectDisposedException("the node was closed"));
        await _reader.ConfigureAwait(false);
        await _stream.DisposeAsync().ConfigureAwait(false);
        _socket.Dispose();
        _sendLock.Dispose();
    }
}
