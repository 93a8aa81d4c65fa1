using System.Net;
using System.Net.Sockets;
using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Options;
using BlockDaemon.Nbd.Net;
using BlockDaemon.Nbd.Tls;

namespace BlockDaemon.Nbd.Client;

/// <summary>The blockdev-add options of the nbd driver (BlockdevOptionsNbd), already schema-validated.</summary>
public sealed record NbdClientOptions(EndPoint Server, string ExportName, TimeSpan OpenTimeout, TimeSpan ReconnectDelay)
{
    /// <summary>Client credentials: the connection upgrades with NBD_OPT_STARTTLS before anything else.</summary>
    public NbdTlsCredentials? Tls { get; init; }

    /// <summary>
    /// x-dirty-bitmap: the meta context block status reads in place of base:allocation (as
    /// qemu, e.g. "qemu:dirty-bitmap:NAME", whose dirty bit is the hole bit); null for base:allocation.
    /// </summary>
    public string? XDirtyBitmap { get; init; }

    /// <summary>x-dirty-bitmap names qemu:allocation-depth, whose depths above 2 read as 2 (qemu's hack).</summary>
    public bool AllocationDepth => XDirtyBitmap == "qemu:allocation-depth";

    /// <summary>The name the server's certificate must carry (tls-hostname, else the inet host).</summary>
    public string? TlsHostname { get; init; }

    /// <summary>The address as qemu prints it in "Failed to connect to '...'".</summary>
    public string ServerText => Server switch
    {
        UnixDomainSocketEndPoint unix => unix.ToString(),
        IPEndPoint ip => Inet is { } inet ? $"{inet.Host}:{inet.Port}" : $"{ip.Address}:{ip.Port}",
        _ => Server.ToString() ?? "",
    };

    /// <summary>The node's file name in qemu's URI form.</summary>
    public string DisplayName => Server switch
    {
        UnixDomainSocketEndPoint unix => $"nbd+unix:///{ExportName}?socket={unix}",
        IPEndPoint ip => Inet is { } inet ? $"nbd://{inet.Host}:{inet.Port}/{ExportName}" : $"nbd://{ip.Address}:{ip.Port}/{ExportName}",
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
        var (address, inet) = ParseAddress(server);
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
            Inet = inet,
            XDirtyBitmap = options.GetString("x-dirty-bitmap"),
        };
    }

    /// <summary>An inet server's address as given; <see cref="ResolveAsync"/> turns it into <see cref="Server"/>.</summary>
    public InetAddressOptions? Inet { get; init; }

    /// <summary>Looks up an inet host (qemu resolves at connect time, with the same errors).</summary>
    public async ValueTask<NbdClientOptions> ResolveAsync(CancellationToken ct)
    {
        if (Inet is null)
        {
            return this;
        }
        var (addresses, port) = await Inet.ResolveAsync(ct, forConnect: true).ConfigureAwait(false);
        return this with { Server = new IPEndPoint(addresses[0], port) };
    }

    private static (EndPoint Server, InetAddressOptions? Inet) ParseAddress(OptionDict server)
    {
        string type = server.GetRequiredString("type");
        if (type == "unix")
        {
            return (new UnixDomainSocketEndPoint(server.GetRequiredString("path")), null);
        }
        var inet = new InetAddressOptions(server.GetRequiredString("host"), server.GetRequiredString("port"),
            Numeric: server.GetBool("numeric", false),
            To: (ushort?)server.GetInt64("to"),
            Ipv4: OptionalBool(server, "ipv4"),
            Ipv6: OptionalBool(server, "ipv6"),
            KeepAlive: server.GetBool("keep-alive", false));
        // Resolved before the first connection; until then the address is a placeholder.
        return (new IPEndPoint(IPAddress.None, 0), inet);
    }

    private static bool? OptionalBool(OptionDict options, string key) => options.TryGet(key, out var value) && value is bool b ? b : null;
}
