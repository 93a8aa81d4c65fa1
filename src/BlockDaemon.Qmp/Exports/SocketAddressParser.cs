using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;

namespace BlockDaemon.Qmp.Exports;

/// <summary>
/// Turns a validated SocketAddress (flat, --nbd-server) or SocketAddressLegacy (wrapped under
/// "data", nbd-server-start) into an endpoint to listen on.
/// </summary>
public static class SocketAddressParser
{
    public static async Task<EndPoint> ParseAsync(JsonObject address, bool legacy)
    {
        string type = address["type"]!.GetValue<string>();
        var body = legacy ? address["data"]!.AsObject() : address;
        if (type == "unix")
        {
            return new UnixDomainSocketEndPoint(body["path"]!.GetValue<string>());
        }
        string host = body["host"]!.GetValue<string>();
        string port = body["port"]!.GetValue<string>();
        if (!ushort.TryParse(port, NumberStyles.None, CultureInfo.InvariantCulture, out ushort portNumber))
        {
            // qemu resolves service names; blockd takes numbers only, in getaddrinfo's words.
            throw QmpException.Generic($"address resolution failed for {host}:{port}: Servname not supported for ai_socktype");
        }
        if (IPAddress.TryParse(host, out var ip))
        {
            return new IPEndPoint(ip, portNumber);
        }
        try
        {
            var addresses = await Dns.GetHostAddressesAsync(host).ConfigureAwait(false);
            return new IPEndPoint(addresses[0], portNumber);
        }
        catch (SocketException e)
        {
            throw QmpException.Generic($"address resolution failed for {host}:{port}: {e.Message}");
        }
    }
}
