using System.Buffers;
using System.IO.Pipelines;

namespace BlockDaemon.Nbd.Server;

/// <summary>A pure frame parser: false means "need more bytes"; malformed input throws.</summary>
internal delegate bool FrameParser<T>(ref ReadOnlySequence<byte> buffer, out T frame);

/// <summary>The one reader of a connection's input: whole frames, exact payloads, skipped bytes.</summary>
internal sealed class NbdFrameReader
{
    private PipeReader _input;

    public NbdFrameReader(PipeReader input)
    {
        _input = input;
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

    /// <summary>Fills <paramref name="destination"/> from the stream.</summary>
    public async ValueTask ReadExactAsync(Memory<byte> destination, CancellationToken ct)
    {
        while (!destination.IsEmpty)
        {
            var result = await _input.ReadAsync(ct).ConfigureAwait(false);
            var buffer = result.Buffer;
            long take = Math.Min(buffer.Length, destination.Length);
            buffer.Slice(0, take).CopyTo(destination.Span);
            destination = destination[(int)take..];
            _input.AdvanceTo(buffer.GetPosition(take));
            if (!destination.IsEmpty && (result.IsCompleted || result.IsCanceled))
            {
                throw new EndOfStreamException("The NBD client closed the connection in the middle of a payload");
            }
        }
    }

    public async ValueTask CompleteAsync() => await _input.CompleteAsync().ConfigureAwait(false);

    /// <summary>
    /// Moves to a new transport (after STARTTLS). The old one must hold no unread bytes: a client
    /// may only start its TLS handshake after the server acknowledged STARTTLS.
    /// </summary>
    public async ValueTask SwitchToAsync(PipeReader input)
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
        _input = input;
    }
}
