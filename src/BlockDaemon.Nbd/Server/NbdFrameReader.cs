using System.Buffers;
using System.IO.Pipelines;

namespace BlockDaemon.Nbd.Server;

/// <summary>A pure frame parser: false means "need more bytes"; malformed input throws.</summary>
internal delegate bool FrameParser<T>(ref ReadOnlySequence<byte> buffer, out T frame);

/// <summary>The one reader of a connection's input: whole frames, exact payloads, skipped bytes.</summary>
internal sealed class NbdFrameReader
{
    // Room for many small requests per receive (a queue of 4 KiB WRITEs), not one 4 KiB segment.
    private const int ReceiveBufferSize = 64 << 10;

    private PipeReader _input;
    private Stream _stream;

    public NbdFrameReader(Stream stream)
    {
        _stream = stream;
        _input = Open(stream);
    }

    /// <summary>The next frame, or throws <see cref="EndOfStreamException"/> when the peer closed first.</summary>
    public async ValueTask<T> ReadAsync<T>(FrameParser<T> parser, CancellationToken ct)
    {
        while (true)
        {
            var result = await _input.ReadAsync(ct).ConfigureAwait(false);
            var buffer = result.Buffer;
            if (parser(ref buffer, out T frame))
            {
                _input.AdvanceTo(buffer.Start);
                return frame;
            }
            _input.AdvanceTo(buffer.Start, buffer.End);
            if (result.IsCompleted || result.IsCanceled)
            {
                throw new EndOfStreamException("The NBD client closed the connection in the middle of a frame");
            }
        }
    }

    /// <summary>
    /// Fills <paramref name="destination"/> from the stream: first what is already buffered, then
    /// straight from the transport into the destination (the pipe reads only when asked, so
    /// nothing is buffered behind our back).
    /// </summary>
    public async ValueTask ReadExactAsync(Memory<byte> destination, CancellationToken ct)
    {
        if (_input.TryRead(out var buffered))
        {
            long take = Math.Min(buffered.Buffer.Length, destination.Length);
            buffered.Buffer.Slice(0, take).CopyTo(destination.Span);
            destination = destination[(int)take..];
            _input.AdvanceTo(buffered.Buffer.GetPosition(take));
        }
        while (!destination.IsEmpty)
        {
            int n = await _stream.ReadAsync(destination, ct).ConfigureAwait(false);
            if (n == 0)
            {
                throw new EndOfStreamException("The NBD client closed the connection in the middle of a payload");
            }
            destination = destination[n..];
        }
    }

    public async ValueTask CompleteAsync() => await _input.CompleteAsync().ConfigureAwait(false);

    /// <summary>
    /// Moves to a new transport (after STARTTLS). The old one must hold no unread bytes: a client
    /// may only start its TLS handshake after the server acknowledged STARTTLS.
    /// </summary>
    public async ValueTask SwitchToAsync(Stream stream)
    {
        if (_input.TryRead(out var result))
        {
            bool leftover = !result.Buffer.IsEmpty;
            _input.AdvanceTo(result.Buffer.Start);
            if (leftover)
            {
                Protocol.NbdProtocolException.Throw("The client sent data before the server acknowledged NBD_OPT_STARTTLS");
            }
        }
        await _input.CompleteAsync().ConfigureAwait(false);
        _stream = stream;
        _input = Open(stream);
    }

    private static PipeReader Open(Stream stream) =>
        PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: ReceiveBufferSize, minimumReadSize: ReceiveBufferSize / 4, leaveOpen: true));
}
