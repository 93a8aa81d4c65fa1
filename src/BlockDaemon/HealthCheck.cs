using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;

namespace BlockDaemon;

/// <summary>
/// `blockd --health-check SOCKET [TIMEOUT-SECONDS]`: connects to a QMP monitor, negotiates and
/// asks query-version, the way a container HEALTHCHECK or a Kubernetes probe checks that the
/// daemon answers (not merely that its socket file exists). Exit 0 and the version on stdout when
/// it answered; exit 1 and the reason on stderr otherwise. The image needs no socat or jq for it.
/// </summary>
internal static class HealthCheck
{
    public const string Option = "--health-check";
    private const int MaxMessageBytes = 1 << 20;

    public static async Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr)
    {
        if (args.Length is < 2 or > 3)
        {
            await stderr.WriteLineAsync($"usage: blockd {Option} SOCKET [TIMEOUT-SECONDS]").ConfigureAwait(false);
            return 2;
        }
        double seconds = 5;
        if (args.Length == 3 && (!double.TryParse(args[2], System.Globalization.NumberStyles.Float,
                System.Globalization.CultureInfo.InvariantCulture, out seconds) || seconds <= 0 || seconds > 3600))
        {
            await stderr.WriteLineAsync($"blockd: {Option}: timeout must be a number of seconds between 0 and 3600, not '{args[2]}'").ConfigureAwait(false);
            return 2;
        }
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
        try
        {
            string version = await QueryVersionAsync(args[1], timeout.Token).ConfigureAwait(false);
            await stdout.WriteLineAsync(version).ConfigureAwait(false);
            return 0;
        }
        catch (OperationCanceledException)
        {
            await stderr.WriteLineAsync($"blockd: {Option} {args[1]}: no answer within {seconds} s").ConfigureAwait(false);
        }
        catch (Exception e) when (e is SocketException or IOException or HealthCheckException or System.Text.Json.JsonException)
        {
            await stderr.WriteLineAsync($"blockd: {Option} {args[1]}: {e.Message}").ConfigureAwait(false);
        }
        return 1;
    }

    private static async Task<string> QueryVersionAsync(string path, CancellationToken ct)
    {
        if (!File.Exists(path))
        {
            throw new HealthCheckException("no such socket");
        }
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), ct).ConfigureAwait(false);
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        using var reader = new MessageReader(stream);
        if (await reader.ReadAsync(ct).ConfigureAwait(false) is not { } greeting || greeting["QMP"] is null)
        {
            throw new HealthCheckException("the peer did not greet as a QMP monitor");
        }
        await CommandAsync(stream, reader, """{"execute":"qmp_capabilities","id":"health-1"}""", "health-1", ct).ConfigureAwait(false);
        var version = await CommandAsync(stream, reader, """{"execute":"query-version","id":"health-2"}""", "health-2", ct).ConfigureAwait(false);
        var qemu = version?["qemu"];
        return $"QEMU {qemu?["major"]}.{qemu?["minor"]}.{qemu?["micro"]} {version?["package"]}".TrimEnd();
    }

    private static async Task<JsonNode?> CommandAsync(NetworkStream stream, MessageReader reader, string command, string id, CancellationToken ct)
    {
        await stream.WriteAsync(Encoding.UTF8.GetBytes(command + "\n"), ct).ConfigureAwait(false);
        while (true)
        {
            var message = await reader.ReadAsync(ct).ConfigureAwait(false)
                ?? throw new HealthCheckException("the monitor hung up");
            if (message["event"] is not null)
            {
                continue;
            }
            if ((string?)message["id"] != id)
            {
                throw new HealthCheckException($"unexpected message: {message.ToJsonString()}");
            }
            if (message["error"] is { } error)
            {
                throw new HealthCheckException($"{command} failed: {error["desc"]}");
            }
            return message["return"];
        }
    }

    /// <summary>QMP replies are one JSON object per line; reads them with a bound on their size.</summary>
    private sealed class MessageReader(Stream stream) : IDisposable
    {
        private readonly byte[] _buffer = new byte[4096];
        private readonly MemoryStream _line = new();
        private int _start;
        private int _end;

        public void Dispose() => _line.Dispose();

        public async Task<JsonObject?> ReadAsync(CancellationToken ct)
        {
            _line.SetLength(0);
            while (true)
            {
                if (_start == _end)
                {
                    _start = 0;
                    _end = await stream.ReadAsync(_buffer, ct).ConfigureAwait(false);
                    if (_end == 0)
                    {
                        return null;
                    }
                }
                int newline = Array.IndexOf(_buffer, (byte)'\n', _start, _end - _start);
                int stop = newline < 0 ? _end : newline;
                _line.Write(_buffer, _start, stop - _start);
                _start = newline < 0 ? _end : newline + 1;
                if (_line.Length > MaxMessageBytes)
                {
                    throw new HealthCheckException($"a message longer than {MaxMessageBytes} bytes");
                }
                if (newline >= 0)
                {
                    return JsonNode.Parse(_line.GetBuffer().AsSpan(0, (int)_line.Length)) as JsonObject
                        ?? throw new HealthCheckException("a message that is not a JSON object");
                }
            }
        }
    }

    private sealed class HealthCheckException(string message) : Exception(message);
}
