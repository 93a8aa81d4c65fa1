using System.Globalization;
using System.Text.Json;
using BlockDaemon.IoTests.Output;
using BlockDaemon.IoTests.Qmp;
using BlockDaemon.IoTests.Transcript;

namespace BlockDaemon.IoTests.Running;

/// <summary>The QMP steps: clients, commands, raw sends and reads.</summary>
public sealed partial class TranscriptSession
{
    private const string DefaultClient = "default";

    private readonly Dictionary<string, QmpConnection> _clients = new(StringComparer.Ordinal);
    private string? _currentClient;

    /// <summary>One line read from a client: EOF, a JSON message, or text that is not JSON.</summary>
    private readonly record struct Received(bool Eof, JsonElement Message, string? NotJson = null)
    {
        public bool IsReply => Message.ValueKind == JsonValueKind.Object
            && (Message.TryGetProperty("return", out _) || Message.TryGetProperty("error", out _));

        public string? EventName => Message.ValueKind == JsonValueKind.Object
            && Message.TryGetProperty("event", out var name) && name.ValueKind == JsonValueKind.String
                ? name.GetString()
                : null;
    }

    private async Task SelectClientAsync(string text, CancellationToken ct)
    {
        var words = WordSplitter.Split(text, _variables);
        if (words.Count is < 1 or > 2)
        {
            throw new TranscriptFormatException("usage: @client NAME [SOCKET_PATH]");
        }

        Print(_filters.FilterText("@client " + string.Join(' ', words)));
        if (!_clients.ContainsKey(words[0]))
        {
            await ConnectAsync(words[0], words.Count == 2 ? words[1] : _sock, ct).ConfigureAwait(false);
        }

        _currentClient = words[0];
    }

    private async Task CloseClientAsync(CancellationToken ct)
    {
        var (name, client) = await CurrentClientAsync(ct).ConfigureAwait(false);
        Print("@close");
        await client.DisposeAsync().ConfigureAwait(false);
        _clients.Remove(name);
        _currentClient = null;
    }

    // The connection the next QMP step uses; the first QMP step of a test connects "default",
    // starting the daemon with no extra arguments if no @daemon came before.
    private async Task<(string Name, QmpConnection Connection)> CurrentClientAsync(CancellationToken ct)
    {
        if (_currentClient is null)
        {
            await ConnectAsync(DefaultClient, _sock, ct).ConfigureAwait(false);
            _currentClient = DefaultClient;
        }

        return (_currentClient, _clients[_currentClient]);
    }

    private async Task ConnectAsync(string name, string path, CancellationToken ct)
    {
        if (!_daemonEverStarted)
        {
            await StartDaemonAsync(string.Empty, echo: false, ct).ConfigureAwait(false);
        }

        if (_daemon is null)
        {
            throw new TranscriptFailureException($"client '{name}' has no daemon to connect to (it exited or was stopped)");
        }

        // qsd now and then hangs up, before the greeting, on a client that connects while it is
        // still closing the previous one (the runner's readiness probe): such a connection is
        // made again, a few times, while the daemon runs. No test expects a closed greeting.
        for (int attempt = 1; ; attempt++)
        {
            var connection = await ConnectOnceAsync(name, path, ct).ConfigureAwait(false);
            var greeting = await ReadAsync(name, connection, "the greeting", ct).ConfigureAwait(false);
            if (greeting.Eof && attempt < 3 && _daemon is { HasExited: false })
            {
                await connection.DisposeAsync().ConfigureAwait(false);
                await Task.Delay(25, ct).ConfigureAwait(false);
                continue;
            }
            _clients[name] = connection;
            PrintReceived(greeting);
            return;
        }
    }

    private async Task<QmpConnection> ConnectOnceAsync(string name, string path, CancellationToken ct)
    {
        try
        {
            return await ConnectRetry.ConnectAsync(path, _settings.ReadTimeout, () => _daemon is { HasExited: false }, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is System.Net.Sockets.SocketException or OperationCanceledException && !ct.IsCancellationRequested)
        {
            throw new TranscriptFailureException($"client '{name}' cannot connect to {_filters.FilterText(path)}: {e.Message}", e);
        }
    }

    private async Task CommandAsync(string json, string? saveAs, CancellationToken ct)
    {
        var (name, client) = await CurrentClientAsync(ct).ConfigureAwait(false);
        var expanded = _variables.Expand(json);
        using (var command = JsonDocument.Parse(expanded))
        {
            var echo = _filters.FormatMessage(command.RootElement);
            Print(saveAs is null ? "> " + echo : $"@save {saveAs} {echo}");
        }

        await client.SendAsync(expanded, ct).ConfigureAwait(false);
        while (true)
        {
            var received = await ReadAsync(name, client, "the reply", ct).ConfigureAwait(false);
            if (received.Eof || !received.IsReply)
            {
                PrintReceived(received);
                if (received.Eof)
                {
                    return;
                }

                continue;
            }

            if (saveAs is not null)
            {
                await File.WriteAllTextAsync(Path.Combine(_testDir, saveAs), received.Message.GetRawText() + "\n", ct).ConfigureAwait(false);
                if (received.Message.TryGetProperty("return", out _))
                {
                    Print($"< (return saved to {saveAs})");
                    return;
                }
            }

            PrintReceived(received);
            return;
        }
    }

    private Task SaveAsync(Step step, CancellationToken ct)
    {
        var (file, json) = TranscriptParser.SplitSave(step.Text, step.Line);
        return CommandAsync(json, file, ct);
    }

    private async Task SendAsync(string text, CancellationToken ct)
    {
        var (_, client) = await CurrentClientAsync(ct).ConfigureAwait(false);
        var expanded = _variables.Expand(text);
        Print(_filters.FilterText("@send " + expanded));
        await client.SendAsync(expanded, ct).ConfigureAwait(false);
    }

    private async Task ReceiveAsync(bool raw, CancellationToken ct)
    {
        var (name, client) = await CurrentClientAsync(ct).ConfigureAwait(false);
        Print(raw ? "@recv-raw" : "@recv");
        if (!raw)
        {
            await ReadAndPrintAsync(name, client, "a message", ct).ConfigureAwait(false);
            return;
        }

        var line = await ReadLineAsync(name, client, "a message", keepTerminator: true, ct).ConfigureAwait(false);
        Print(line is null ? "<EOF>" : "<raw " + JsonFormatter.QuoteString(_filters.FilterText(line)));
    }

    private async Task ReceiveEofAsync(CancellationToken ct)
    {
        var (name, client) = await CurrentClientAsync(ct).ConfigureAwait(false);
        Print("@recv-eof");
        Received received;
        do
        {
            received = await ReadAndPrintAsync(name, client, "end of stream", ct).ConfigureAwait(false);
        }
        while (!received.Eof);
    }

    private async Task WaitForEventAsync(string eventName, CancellationToken ct)
    {
        var (name, client) = await CurrentClientAsync(ct).ConfigureAwait(false);
        Print("@wait " + eventName);
        while (true)
        {
            var received = await ReadAndPrintAsync(name, client, $"event {eventName}", ct).ConfigureAwait(false);
            if (received.Eof)
            {
                throw new TranscriptFailureException($"client '{name}' reached end of stream while waiting for event {eventName}");
            }

            if (received.EventName == eventName)
            {
                return;
            }
        }
    }

    private async Task<Received> ReadAndPrintAsync(string name, QmpConnection client, string what, CancellationToken ct)
    {
        var received = await ReadAsync(name, client, what, ct).ConfigureAwait(false);
        PrintReceived(received);
        return received;
    }

    private void PrintReceived(Received received)
    {
        if (received.Eof)
        {
            Print("<EOF>");
        }
        else if (received.NotJson is { } text)
        {
            Print("< (not JSON) " + _filters.FilterText(text));
        }
        else
        {
            Print("< " + _filters.FormatMessage(received.Message));
        }
    }

    private async Task<Received> ReadAsync(string name, QmpConnection client, string what, CancellationToken ct)
    {
        var line = await ReadLineAsync(name, client, what, keepTerminator: false, ct).ConfigureAwait(false);
        if (line is null)
        {
            return new Received(Eof: true, default);
        }

        try
        {
            using var document = JsonDocument.Parse(line);
            return new Received(Eof: false, document.RootElement.Clone());
        }
        catch (JsonException)
        {
            return new Received(Eof: false, default, NotJson: line);
        }
    }

    private async Task<string?> ReadLineAsync(string name, QmpConnection client, string what, bool keepTerminator, CancellationToken ct)
    {
        try
        {
            return await client.ReadLineAsync(_settings.ReadTimeout, keepTerminator, ct).ConfigureAwait(false);
        }
        catch (TimeoutException e)
        {
            throw new TranscriptFailureException(string.Create(CultureInfo.InvariantCulture, $"client '{name}' waited for {what}: {e.Message}"), e);
        }
    }

    private async Task CloseClientsAsync()
    {
        foreach (var client in _clients.Values)
        {
            await client.DisposeAsync().ConfigureAwait(false);
        }

        _clients.Clear();
        _currentClient = null;
    }
}
