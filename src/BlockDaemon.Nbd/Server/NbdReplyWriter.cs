using System.Buffers;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace BlockDaemon.Nbd.Server;

/// <summary>
/// The one writer of a connection's output. Requests complete in any order on the thread pool;
/// each takes the lock and sends its whole reply (all chunks), so replies never interleave
/// mid-frame. A client that stops reading blocks the send until the connection's token is
/// cancelled or its socket closed.
/// </summary>
/// <remarks>
/// Frames are built in one reusable buffer and sent straight to the transport: bulk READ data is
/// never copied, and on a plain socket a reply's headers and data leave in one gathered send
/// (copying megabytes through a pipe of 4 KiB segments cost one system call per 4 KiB).
/// </remarks>
internal sealed class NbdReplyWriter : IDisposable
{
    // Bigger frame buffers (a large BLOCK_STATUS reply) are dropped after use rather than kept.
    private const int KeptFrameCapacity = 64 << 10;

    // Guards everything below: one reply at a time.
    private readonly SemaphoreSlim _lock = new(1, 1);
    private readonly List<ArraySegment<byte>> _gather = new(8);
    private readonly List<(int Start, int Length, ArraySegment<byte> Payload)> _parts = new(8);
    private ArrayBufferWriter<byte> _frames = new(4096);
    private Stream _stream;
    // Set while the transport is the plain socket (null after STARTTLS).
    private Socket? _socket;

    public NbdReplyWriter(Stream stream)
    {
        _stream = stream;
        _socket = (stream as NetworkStream)?.Socket;
    }

    /// <summary>Runs <paramref name="write"/> into the frame buffer under the lock, then sends what it wrote.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask WriteAsync<TState>(TState state, Action<IBufferWriter<byte>, TState> write, CancellationToken ct)
    {
        await _lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            _frames.ResetWrittenCount();
            write(_frames, state);
            await _stream.WriteAsync(_frames.WrittenMemory, ct).ConfigureAwait(false);
        }
        finally
        {
            ShrinkFrames();
            _lock.Release();
        }
    }

    /// <summary>
    /// Sends a reply of <paramref name="partCount"/> parts: part i is what
    /// <paramref name="writePart"/> writes into the frame buffer, followed by the array segment it
    /// returns (bulk data, sent without copying; empty for none).
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask WriteGatheredAsync<TState>(TState state, int partCount, Func<IBufferWriter<byte>, TState, int, ArraySegment<byte>> writePart, CancellationToken ct)
    {
        await _lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            _frames.ResetWrittenCount();
            _parts.Clear();
            for (int i = 0; i < partCount; i++)
            {
                int start = _frames.WrittenCount;
                var payload = writePart(_frames, state, i);
                _parts.Add((start, _frames.WrittenCount - start, payload));
            }
            // The frame buffer may have moved while growing: take its array only now.
            if (!MemoryMarshal.TryGetArray(_frames.WrittenMemory, out ArraySegment<byte> frames))
            {
                throw new InvalidOperationException("The frame buffer is not array-backed");
            }
            if (_socket is { } socket)
            {
                await SendGatheredAsync(socket, frames, ct).ConfigureAwait(false);
            }
            else
            {
                foreach (var (start, length, payload) in _parts)
                {
                    await _stream.WriteAsync(frames.AsMemory(start, length), ct).ConfigureAwait(false);
                    if (payload.Count > 0)
                    {
                        await _stream.WriteAsync(payload.AsMemory(), ct).ConfigureAwait(false);
                    }
                }
            }
        }
        finally
        {
            _parts.Clear();
            ShrinkFrames();
            _lock.Release();
        }
    }

    /// <summary>Nothing is buffered between replies; kept so the connection's shutdown reads the same for both directions.</summary>
    public ValueTask CompleteAsync() => ValueTask.CompletedTask;

    /// <summary>Moves to a new transport (after STARTTLS); everything written so far has been sent.</summary>
    public ValueTask SwitchToAsync(Stream stream)
    {
        _stream = stream;
        _socket = null;
        return ValueTask.CompletedTask;
    }

    public void Dispose() => _lock.Dispose();

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask SendGatheredAsync(Socket socket, ArraySegment<byte> frames, CancellationToken ct)
    {
        _gather.Clear();
        int total = 0;
        foreach (var (start, length, payload) in _parts)
        {
            if (length > 0)
            {
                _gather.Add(new ArraySegment<byte>(frames.Array!, frames.Offset + start, length));
                total += length;
            }
            if (payload.Count > 0)
            {
                _gather.Add(payload);
                total += payload.Count;
            }
        }
        // The list form of SendAsync takes no token: cancelling closes the socket instead, which
        // fails the send, so a client that stopped reading cannot hold the reply lock forever.
        ct.ThrowIfCancellationRequested();
        int sent;
        using (ct.UnsafeRegister(static s => ((Socket)s!).Dispose(), socket))
        {
            sent = await socket.SendAsync(_gather, SocketFlags.None).ConfigureAwait(false);
        }
        _gather.Clear();
        if (sent != total)
        {
            throw new IOException($"Sent {sent} of {total} reply bytes");
        }
    }

    private void ShrinkFrames()
    {
        if (_frames.Capacity > KeptFrameCapacity)
        {
            _frames = new ArrayBufferWriter<byte>(4096);
        }
    }
}
