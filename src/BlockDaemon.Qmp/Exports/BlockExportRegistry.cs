using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using BlockDaemon.Core.Graph;
using BlockDaemon.Nbd.Server;
using BlockDaemon.Nbd.Tls;
using BlockDaemon.Qmp.Server;
using Microsoft.Extensions.Logging;

namespace BlockDaemon.Qmp.Exports;

/// <summary>
/// The NBD server and the exports of the daemon, as qsd keeps them: at most one server, exports by
/// id (newest first, the order query-block-exports lists). Used on the control loop only; an
/// export that waits for clients to go away finishes its removal there too.
/// </summary>
public sealed class BlockExportRegistry(BlockGraph graph, EventBus events, ControlLoop loop, ILogger logger)
{
    private readonly List<BlockExport> _exports = [];

    public NbdServer? Server { get; private set; }

    /// <summary>Newest first.</summary>
    public IReadOnlyList<BlockExport> Exports => _exports;

    public BlockExport? Find(string id) => _exports.Find(e => e.Id == id);

    /// <summary>
    /// The tls-creds-x509 objects by id (from --object), for nbd-server-start and the nbd client
    /// driver. Objects of other types hold nothing blockd uses and are not kept here.
    /// </summary>
    public Dictionary<string, NbdTlsCredentials> TlsCredentials { get; } = new(StringComparer.Ordinal);

    /// <summary>The user-creatable objects (object-add, --object), among them the TLS credentials above.</summary>
    public Objects.UserObjectRegistry Objects { get; } = new();

    /// <summary>Listens on <paramref name="address"/>; throws QmpException in qsd's words.</summary>
    /// <param name="lastPort">With a TCP address, the last port to try when the given one is taken (qemu's 'to').</param>
    /// <param name="authorize">With <paramref name="tls"/>: the tls-authz check of each client.</param>
    public void StartServer(EndPoint address, int maxConnections, NbdTlsCredentials? tls = null, int lastPort = 0,
        Func<System.Security.Cryptography.X509Certificates.X509Certificate?, string?>? authorize = null)
    {
        if (Server is not null)
        {
            throw QmpException.Generic("NBD server already running");
        }
        var options = new NbdServerOptions { MaxConnections = maxConnections, Tls = tls, Authorize = authorize };
        if (address is UnixDomainSocketEndPoint unix)
        {
            try
            {
                Server = NbdServer.ListenUnix(unix.ToString(), options, logger);
            }
            catch (SocketException e)
            {
                throw QmpException.Generic(ListenError(address, e));
            }
            return;
        }
        var ip = (IPEndPoint)address;
        for (int port = ip.Port; ; port++)
        {
            var candidate = new IPEndPoint(ip.Address, port);
            try
            {
                Server = NbdServer.ListenTcp(candidate, options, logger);
                return;
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse && port < lastPort)
            {
                // qemu's inet_listen_saddr walks the range up to 'to'.
            }
            catch (SocketException e)
            {
                // qemu's inet_listen_saddr says this however many ports it tried.
                throw QmpException.Generic(e.SocketErrorCode == SocketError.AddressAlreadyInUse
                    ? $"Failed to find an available port: {e.Message}"
                    : ListenError(candidate, e));
            }
        }
    }

    /// <summary>Removes every export (each reported once gone) and closes the server.</summary>
    public async Task StopServerAsync()
    {
        var server = Server ?? throw QmpException.Generic("NBD server not running");
        foreach (var export in _exports.Where(e => !e.ShuttingDown).ToList())
        {
            await RemoveAsync(export, waitForClients: true).ConfigureAwait(false);
        }
        // Exports removed with mode=hard earlier may still wait for their clients; stopping drops them.
        Server = null;
        await server.StopAsync().ConfigureAwait(false);
        await server.DisposeAsync().ConfigureAwait(false);
    }

    public void Add(BlockExport export)
    {
        Server!.Exports.Add(export.Nbd);
        _exports.Insert(0, export);
    }

    /// <summary>
    /// Starts removing <paramref name="export"/>: new clients can no longer open it and its clients
    /// are dropped. With <paramref name="waitForClients"/> this completes once the export is gone;
    /// otherwise an export whose clients are still leaving finishes after <paramref name="replySent"/>,
    /// so BLOCK_EXPORT_DELETED follows the command's reply, as in qsd.
    /// </summary>
    public async Task RemoveAsync(BlockExport export, bool waitForClients, Task? replySent = null)
    {
        export.ShuttingDown = true;
        var server = Server!;
        server.Exports.Remove(export.Nbd.Name);
        // Counted before dropping: an aborted client may finish inline, yet qsd still reports
        // such an export gone only after the reply.
        bool hadClients = server.ClientsOf(export.Nbd) > 0;
        var clientsGone = server.DropClientsAsync(export.Nbd);
        if (!hadClients || waitForClients)
        {
            await clientsGone.ConfigureAwait(false);
            await FinishAsync(export).ConfigureAwait(false);
            return;
        }
        _ = FinishLaterAsync(export, clientsGone, replySent ?? Task.CompletedTask);
    }

    /// <summary>Number of clients that have <paramref name="export"/> open.</summary>
    public int ClientsOf(BlockExport export) => Server?.ClientsOf(export.Nbd) ?? 0;

    /// <summary>Clients of <paramref name="export"/> once those already leaving have gone (bounded wait).</summary>
    public Task<int> ClientsStayingAsync(BlockExport export) =>
        Server?.ClientsStayingAsync(export.Nbd, TimeSpan.FromSeconds(2)) ?? Task.FromResult(0);

    private async Task FinishLaterAsync(BlockExport export, Task clientsGone, Task replySent)
    {
        await Task.WhenAll(clientsGone, replySent).ConfigureAwait(false);
        loop.Post(() => FinishAsync(export));
    }

    // Gives the node back (closing it if nothing else owns or uses it, as an external
    // snapshot's overlay) and reports the export gone. Runs on the control loop.
    private async Task FinishAsync(BlockExport export)
    {
        if (!_exports.Remove(export))
        {
            return;
        }
        // qsd 7.2 drains the node twice as the export's BlockBackend lets go of it: the jobs that
        // use it (or a node above it) pause and resume twice before BLOCK_EXPORT_DELETED.
        await graph.DrainJobsAsync(export.Nbd.Child.Node, times: 2).ConfigureAwait(false);
        await export.Nbd.DetachAsync(graph).ConfigureAwait(false);
        events.Emit("BLOCK_EXPORT_DELETED", new JsonObject { ["id"] = export.Id });
    }

    // qemu's inet_listen_saddr / unix_listen_saddr wording. .NET reports a Unix path in a missing
    // directory as "Cannot assign requested address"; qemu prints bind's ENOENT.
    private static string ListenError(EndPoint address, SocketException e) => address switch
    {
        UnixDomainSocketEndPoint unix when !Directory.Exists(Path.GetDirectoryName(Path.GetFullPath(unix.ToString())))
            => $"Failed to bind socket to {unix}: No such file or directory",
        UnixDomainSocketEndPoint unix => $"Failed to bind socket to {unix}: {e.Message}",
        _ => $"Failed to bind socket: {e.Message}",
    };
}
