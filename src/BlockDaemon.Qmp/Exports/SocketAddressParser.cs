using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using BlockDaemon.Core.Errors;
using BlockDaemon.Nbd.Net;

namespace BlockDaemon.Qmp.Exports;

/// <summary>
/// Turns a validated SocketAddress (flat, --nbd-server) or SocketAddressLegacy (wrapped under
/// "data", nbd-server-start) into an endpoint to listen on.
/// </summary>
public static class SocketAddressParser
{
    /// <summary>The endpoint to listen on and, for an inet address with 'to', the last port of the range to try.</summary>
    public static async Task<(EndPoint Address, int LastPort)> ParseAsync(JsonObject address, bool legacy)
    {
        string type = address["type"]!.GetValue<string>();
        var body = legacy ? address["data"]!.AsObject() : address;
        if (type == "unix")
        {
            return (new UnixDomainSocketEndPoint(body["path"]!.GetValue<string>()), 0);
        }
        // keep-alive applies to connections a client makes; qemu accepts it on a listener too.
        var inet = new InetAddressOptions(body["host"]!.GetValue<string>(), body["port"]!.GetValue<string>(),
            Numeric: body["numeric"]?.GetValue<bool>() ?? false,
            To: body["to"] is { } to ? (ushort)Math.Clamp(to.GetValue<long>(), 0, ushort.MaxValue) : null,
            Ipv4: body["ipv4"]?.GetValue<bool>(),
            Ipv6: body["ipv6"]?.GetValue<bool>(),
            KeepAlive: body["keep-alive"]?.GetValue<bool>() ?? false);
        try
        {
            var (addresses, port) = await inet.ResolveAsync(CancellationToken.None).ConfigureAwait(false);
            return (new IPEndPoint(addresses[0], port), Math.Max(port, inet.To ?? port));
        }
        catch (BlockException e)
        {
            throw QmpException.Generic(e.Message);
        }
    }
}
