using System.Net.Sockets;
using System.Text.Json.Nodes;
using BlockDaemon.Nbd.Tls;
using BlockDaemon.Qmp.Exports;

namespace BlockDaemon.Qmp.Commands;

/// <summary>block-export.json: starting and stopping the NBD server.</summary>
public static class NbdServerCommands
{
    internal static void Register(CommandRegistry registry)
    {
        registry.Add("nbd-server-start", (c, a) => StartAsync(c, a, legacyAddress: true));
        registry.Add("nbd-server-stop", Stop);
    }

    /// <summary>
    /// nbd-server-start, and --nbd-server with <paramref name="legacyAddress"/> false (its address
    /// is the flat SocketAddress).
    /// </summary>
    public static async Task<JsonNode?> StartAsync(CommandContext context, JsonObject arguments, bool legacyAddress)
    {
        if (context.Exports.Server is not null)
        {
            throw QmpException.Generic("NBD server already running");
        }
        NbdTlsCredentials? tls = null;
        Func<System.Security.Cryptography.X509Certificates.X509Certificate?, string?>? authorize = null;
        if (arguments["tls-creds"]?.GetValue<string>() is { } creds)
        {
            tls = context.Exports.Objects.Find(creds) switch
            {
                Objects.TlsX509Object x509 => x509.Credentials,
                Objects.TlsPskObject => throw QmpException.Generic(
                    $"TLS credentials '{creds}' are tls-creds-psk, which blockd cannot serve: its TLS library has no pre-shared-key cipher suites; use tls-creds-x509"),
                null => throw QmpException.Generic($"No TLS credentials with id '{creds}'"),
                _ => throw QmpException.Generic($"Object with id '{creds}' is not TLS credentials"),
            };
            if (tls.Endpoint != NbdTlsEndpoint.Server)
            {
                throw QmpException.Generic("Expected TLS credentials for a server endpoint");
            }
            // As qemu, the authorization object is looked up per client, so it may come later;
            // without verify-peer qemu checks no certificate, and so no authorization either.
            if (arguments["tls-authz"]?.GetValue<string>() is { } authz && tls.VerifyPeer)
            {
                authorize = Objects.TlsAuthorization.For(authz, context.Exports.Objects);
            }
        }
        var (address, lastPort) = await SocketAddressParser.ParseAsync(arguments["addr"]!.AsObject(), legacyAddress).ConfigureAwait(false);
        if (address is UnixDomainSocketEndPoint unix && File.Exists(unix.ToString()))
        {
            // As qemu's unix_listen_saddr: a stale socket file from an earlier run is replaced.
            File.Delete(unix.ToString());
        }
        int max = (int)Math.Min(arguments["max-connections"]?.GetValue<long>() ?? 0, int.MaxValue);
        context.Exports.StartServer(address, max, tls, lastPort, authorize);
        return null;
    }

    private static async Task<JsonNode?> Stop(CommandContext context, JsonObject arguments)
    {
        await context.Exports.StopServerAsync().ConfigureAwait(false);
        return null;
    }
}
