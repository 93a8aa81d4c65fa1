using System.Net;
using System.Net.Sockets;
using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Options;
using BlockDaemon.Nbd.Tls;

namespace BlockDaemon.Nbd.Client;

/// <summary>The blockdev-add options of the nbd driver (BlockdevOptionsNbd), already schema-validated.</summary>
public sealed record NbdClientOptions(EndPoint Server, string ExportName, TimeSpan OpenTimeout, TimeSpan ReconnectDelay)
{
    /// <summary>Client credentials: the connection upgrades with NBD_OPT_STARTTLS before anything else.</summary>
    public NbdTlsCredentials? Tls { get; init; }

    /// <summary>The name the server's certificate must carry (tls-hostname, else the inet host).</summary>
    public string? TlsHostname { get; init; }

    /// <summary>The address as qemu prints it in "Failed to connect to '...'".</summary>
    public string ServerText => Server switch
    {
        UnixDomainSocketEndPoint unix => unix.ToString(),
        IPEndPoint ip => $"{ip.Address}:{ip.Port}",
        _ => Server.ToString() ?? "",
    };

    /// <summary>The node's file name in qemu's URI form.</summary>
    public string DisplayName => Server switch
    {
        UnixDomainSocketEndPoint unix => $"nbd+unix:///{ExportName}?socket={unix}",
        IPEndPoint ip => $"nbd://{ip.Address}:{ip.Port}/{ExportName}",
        _ => ServerText,
    };

    public static NbdClientOptions Parse(OptionDict options, Func<string, NbdTlsCredentials?>? findCredentials = null)
    {
        var server = options.GetDict("server") ?? throw BlockException.Invalid("Parameter 'server' is missing");
        string export = options.GetString("export") ?? "";
        long reconnectDelay = options.GetInt64("reconnect-delay") ?? 0;
        if (reconnectDelay < 0)
        {
            throw BlockException.Invalid("reconnect-delay must not be negative");
        }
        long openTimeout = options.GetInt64("open-timeout") ?? 0;
        if (openTimeout < 0)
        {
            throw BlockException.Invalid("open-timeout must not be negative");
        }
        var address = ParseAddress(server);
        NbdTlsCredentials? tls = null;
        string? hostname = options.GetString("tls-hostname");
        if (options.GetString("tls-creds") is { } credsId)
        {
            // qemu's checks and words (nbd_get_tls_creds, then the hostname for verification).
            tls = findCredentials?.Invoke(credsId) ?? throw BlockException.Invalid($"No TLS credentials with id '{credsId}'");
            if (tls.Endpoint != NbdTlsEndpoint.Client)
            {
                throw BlockException.Invalid("Expected TLS credentials for a client endpoint");
            }
            hostname ??= server.GetString("type") == "inet" ? server.GetString("host") : null;
            if (hostname is null)
            {
                throw BlockException.Invalid("No hostname for certificate validation");
            }
        }
        return new NbdClientOptions(address, export, TimeSpan.FromSeconds(openTimeout), TimeSpan.FromSeconds(reconnectDelay))
        {
            Tls = tls,
            TlsHostname = hostname,
        };
    }

    private static EndPoint ParseAddress(OptionDict server)
    {
        string type = server.GetRequiredString("type");
        if (type == "unix")
        {
            return new UnixDomainSocketEndPoint(server.GetRequiredString("path"));
        }
        string host = server.GetRequiredString("host");
        string port = server.GetRequiredString("port");
        if (!ushort.TryParse(port, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out ushort portNumber))
        {
            throw BlockException.Invalid($"address resolution failed for {host}:{port}: Servname not supported for ai_socktype");
        }
        if (host == "localhost")
        {
            host = "127.0.0.1";
        }
        if (!IPAddress.TryParse(host, out var address))
        {
            // Name resolution is left out: blockd connects to numeric addresses only.
            throw BlockException.Invalid($"address resolution failed for {host}:{port}: blockd accepts numeric addresses only");
        }
        return new IPEndPoint(address, portNumber);
    }
}
