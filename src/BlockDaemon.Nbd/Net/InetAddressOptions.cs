using System.Globalization;
using System.Net;
using System.Net.Sockets;
using BlockDaemon.Core.Errors;

namespace BlockDaemon.Nbd.Net;

/// <summary>
/// An InetSocketAddress as qemu's util/qemu-sockets.c reads it: host and port, plus numeric (no
/// name lookup), ipv4/ipv6 (address family), to (the last port of a range a server may listen
/// on) and keep-alive (SO_KEEPALIVE on a connection). Resolution errors use getaddrinfo's words.
/// </summary>
public sealed record InetAddressOptions(string Host, string Port, bool Numeric = false, ushort? To = null, bool? Ipv4 = null, bool? Ipv6 = null, bool KeepAlive = false)
{
    /// <summary>
    /// Resolves to the addresses to try, in the resolver's order; throws BlockException in qemu's
    /// words. For a connection (<paramref name="forConnect"/>) qemu ignores numeric and lets IPv6
    /// reach IPv4 addresses through their v4-mapped form.
    /// </summary>
    public async ValueTask<(IPAddress[] Addresses, ushort Port)> ResolveAsync(CancellationToken ct, bool forConnect = false)
    {
        if (Ipv4 == false && Ipv6 == false)
        {
            throw BlockException.Invalid("Cannot disable IPv4 and IPv6 at same time");
        }
        if (!ushort.TryParse(Port, NumberStyles.None, CultureInfo.InvariantCulture, out ushort port))
        {
            // qemu resolves service names; blockd takes numbers only, in getaddrinfo's words.
            throw Failed("Servname not supported for ai_socktype");
        }
        // qemu's inet_ai_family_from_address: both on means either; one on or the other off picks it.
        AddressFamily? family = (Ipv4, Ipv6) switch
        {
            (true, true) => null,
            (_, true) or (false, _) => AddressFamily.InterNetworkV6,
            (true, _) or (_, false) => AddressFamily.InterNetwork,
            _ => null,
        };
        IPAddress[] addresses;
        string host = Host.Length >= 2 && Host[0] == '[' && Host[^1] == ']' ? Host[1..^1] : Host;
        if (IPAddress.TryParse(host, out var literal))
        {
            addresses = [literal];
        }
        else if (Numeric && !forConnect)
        {
            throw Failed("Name or service not known");
        }
        else
        {
            try
            {
                addresses = await Dns.GetHostAddressesAsync(host, family ?? AddressFamily.Unspecified, ct).ConfigureAwait(false);
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.HostNotFound)
            {
                throw Failed("Name or service not known");
            }
            catch (SocketException e)
            {
                throw Failed(e.Message);
            }
        }
        if (family == AddressFamily.InterNetworkV6 && forConnect)
        {
            addresses = [.. addresses.Select(a => a.AddressFamily == AddressFamily.InterNetwork ? a.MapToIPv6() : a)];
        }
        if (family is not null)
        {
            addresses = [.. addresses.Where(a => a.AddressFamily == family)];
        }
        if (addresses.Length == 0)
        {
            throw Failed("Address family for hostname not supported");
        }
        return (addresses, port);
    }

    private BlockException Failed(string reason) => BlockException.Invalid($"address resolution failed for {Host}:{Port}: {reason}");
}
