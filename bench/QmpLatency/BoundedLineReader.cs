using System.Net.Sockets;

namespace BlockDaemon.Bench.QmpLatency;

/// <summary>
/// Reads newline-terminated messages from a socket into one reusable buffer, refusing lines longer
/// than a fixed bound so a misbehaving peer cannot make the bench allocate without limit.
/// QMP servers (qsd, blockd) send exactly one JSON message per line.
/// </summary>
internal sealed class BoundedLineReader
{
    private const int InitialBufferBytes = 64 * 1024;

    private readonly Socket _socket;
    private readonly int _maxLineBytes;
    private byte[] _buffer;
    private int _start;   // first unread byte
    private int _end;     // one past the last received byte
    private int _scanned; // bytes after _start already known to hold no '\n'

    public BoundedLineReader(Socket socket, int maxLineBytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLineBytes, 1);
        _socket = socket;
        _maxLineBytes = maxLineBytes;
        _buffer = new byte[Math.Min(InitialBufferBytes, maxLineBytes + 1)];
    }

    /// <summary>
    /// The next line without its terminator (and without a trailing '\r'), or null at a clean end of
    /// stream. The memory is only valid until the next call.
    /// </summary>
    /// <exception cref="InvalidDataException">The line exceeds the bound.</exception>
    /// <exception cref="EndOfStreamException">The peer closed the connection in the middle of a line.</exception>
    public async ValueTask<ReadOnlyMemory<byte>?> ReadLineAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            int newline = _buffer.AsSpan(_start + _scanned, _end - _start - _scanned).IndexOf((byte)'\n');
            if (newline >= 0)
            {
                int length = _scanned + newline;
                int lineStart = _start;
                _start += length + 1;
                _scanned = 0;
                if (length > 0 && _buffer[lineStart + length - 1] == (byte)'\r')
                    length--;
                return _buffer.AsMemory(lineStart, length);
            }

            _scanned = _end - _start;
            if (_scanned > _maxLineBytes)
                throw new InvalidDataException($"peer sent a line longer than {_maxLineBytes} bytes");

            MakeRoom();
            int received = await _socket.ReceiveAsync(_buffer.AsMemory(_end), SocketFlags.None, cancellationToken);
            if (received == 0)
            {
                if (_end > _start)
                    throw new EndOfStreamException($"connection closed after {_end - _start} bytes of an unterminated line");
                return null;
            }
            _end += received;
        }
    }

    /// <summary>Ensures free space after <see cref="_end"/>: first by dropping consumed bytes, then by growing.</summary>
    private void MakeRoom()
    {
        if (_start == _end)
        {
            _start = _end = 0;
        }
        if (_end < _buffer.Length)
            return;

        int pending = _end - _start;
        if (_start > 0)
        {
            _buffer.AsSpan(_start, pending).CopyTo(_buffer);
            _start = 0;
            _end = pending;
            return;
        }

        // Full of one unfinished line: grow, but never beyond the bound plus one byte (to detect overflow).
        int newSize = (int)Math.Min((long)_buffer.Length * 2, (long)_maxLineBytes + 1);
        Array.Resize(ref _buffer, newSize);
    }
}
