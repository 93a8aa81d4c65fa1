using System.Buffers;
using System.Net.Sockets;
using System.Text;

namespace BlockDaemon.IoTests.Qmp;

/// <summary>
/// One client connection to a QMP Unix socket, read line by line. Every read has a deadline so
/// that a daemon which never answers fails the test instead of hanging the runner.
/// </summary>
public sealed class QmpConnection : IAsyncDisposable
{
    // A reply larger than this is a runaway daemon, not a test (query-qmp-schema is ~200 KiB).
    private const int MaxLineBytes = 64 << 20;

    private readonly Socket _socket;
    private readonly ArrayBufferWriter<byte> _pending = new();
    private bool _eof;

    private QmpConnection(Socket socket) => _socket = socket;

    /// <summary>True once the peer has closed the connection and everything before it was read.</summary>
    public bool AtEof => _eof && _pending.WrittenCount == 0;

    public static async Task<QmpConnection> ConnectAsync(string path, TimeSpan timeout, CancellationToken ct)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
            deadline.CancelAfter(timeout);
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), deadline.Token).ConfigureAwait(false);
            return new QmpConnection(socket);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Sends <paramref name="text"/> followed by a newline, exactly as given.</summary>
    public async Task SendAsync(string text, CancellationToken ct)
    {
        var bytes = Encoding.UTF8.GetBytes(text + "\n");
        await _socket.SendAsync(bytes, SocketFlags.None, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Reads one line. Returns null at end of stream. The line ending ("\n" or "\r\n") is dropped
    /// unless <paramref name="keepTerminator"/> is set. A final unterminated fragment before EOF
    /// is returned as a line of its own.
    /// </summary>
    /// <exception cref="TimeoutException">Nothing complete arrived within <paramref name="timeout"/>.</exception>
    public async Task<string?> ReadLineAsync(TimeSpan timeout, bool keepTerminator, CancellationToken ct)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(timeout);
        while (true)
        {
            if (TryTakeLine(keepTerminator, out var line))
            {
                return line;
            }

            if (_eof)
            {
                return TakeRest();
            }

            await FillAsync(timeout, deadline.Token, ct).ConfigureAwait(false);
        }
    }

    private async Task FillAsync(TimeSpan timeout, CancellationToken deadline, CancellationToken ct)
    {
        if (_pending.WrittenCount > MaxLineBytes)
        {
            throw new InvalidOperationException($"a line longer than {MaxLineBytes} bytes arrived without a newline");
        }

        var memory = _pending.GetMemory(64 * 1024);
        int read;
        try
        {
            read = await _socket.ReceiveAsync(memory, SocketFlags.None, deadline).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new TimeoutException($"no complete message within {timeout.TotalSeconds:0.#} s");
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionAborted)
        {
            read = 0;
        }

        if (read == 0)
        {
            _eof = true;
        }
        else
        {
            _pending.Advance(read);
        }
    }

    private bool TryTakeLine(bool keepTerminator, out string? line)
    {
        var span = _pending.WrittenSpan;
        var newline = span.IndexOf((byte)'\n');
        if (newline < 0)
        {
            line = null;
            return false;
        }

        var length = newline;
        if (!keepTerminator && length > 0 && span[length - 1] == '\r')
        {
            length--;
        }

        line = Encoding.UTF8.GetString(keepTerminator ? span[..(newline + 1)] : span[..length]);
        Consume(newline + 1);
        return true;
    }

    private string? TakeRest()
    {
        if (_pending.WrittenCount == 0)
        {
            return null;
        }

        var rest = Encoding.UTF8.GetString(_pending.WrittenSpan);
        _pending.Clear();
        return rest;
    }

    private void Consume(int count)
    {
        var rest = _pending.WrittenSpan[count..].ToArray();
        _pending.Clear();
        _pending.Write(rest);
    }

    public ValueTask DisposeAsync()
    {
        _socket.Dispose();
        return ValueTask.CompletedTask;
    }
}
