using System.Text.Json.Nodes;
using BlockDaemon.Ctl.Qmp;
using BlockDaemon.Ctl.Schema;

namespace BlockDaemon.Ctl.Cli;

/// <summary>
/// One blockctl run: its console, options and Ctrl-C token, and the connection, opened on first
/// use so that usage errors are reported without a daemon; the schema is fetched once, when
/// something needs it (typing key=value arguments, completion).
/// </summary>
public sealed class CtlSession(CtlConsole console, GlobalOptions options, CancellationToken interrupt) : IAsyncDisposable
{
    private QmpClient? _client;
    private QmpSchema? _schema;

    public CtlConsole Console { get; } = console;

    public GlobalOptions Options { get; } = options;

    /// <summary>Cancelled on Ctrl-C (SIGINT).</summary>
    public CancellationToken Interrupt { get; } = interrupt;

    public string SocketPath => Options.Socket ?? DefaultSocketPath.Resolve(Console.Environment);

    public async Task<QmpClient> ClientAsync(CancellationToken ct) =>
        _client ??= await QmpClient.ConnectAsync(SocketPath, ct).ConfigureAwait(false);

    public async Task<QmpSchema> SchemaAsync(CancellationToken ct)
    {
        if (_schema is null)
        {
            var client = await ClientAsync(ct).ConfigureAwait(false);
            var introspection = await client.ExecuteAsync("query-qmp-schema", null, ct).ConfigureAwait(false) as JsonArray
                ?? throw new QmpConnectionException("query-qmp-schema did not return a list");
            _schema = new QmpSchema(introspection);
        }
        return _schema;
    }

    public async ValueTask DisposeAsync()
    {
        if (_client is not null)
        {
            await _client.DisposeAsync().ConfigureAwait(false);
        }
    }
}
