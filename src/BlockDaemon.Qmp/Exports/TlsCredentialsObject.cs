using System.Text.Json.Nodes;
using BlockDaemon.Core.Errors;
using BlockDaemon.Nbd.Tls;

namespace BlockDaemon.Qmp.Exports;

/// <summary>
/// The properties of a tls-creds-x509 object (QEMU's TlsCredsX509Properties), checked in qsd's
/// words and loaded at once, as qemu completes the object when it is created.
/// </summary>
public static class TlsCredentialsObject
{
    private static readonly HashSet<string> Members = new(StringComparer.Ordinal)
    {
        "id", "dir", "endpoint", "verify-peer", "priority", "sanity-check", "loaded", "passwordid",
    };

    /// <summary>Creates the credentials; <paramref name="fromKeyval"/> means every value is a string (--object).</summary>
    /// <param name="findSecret">Looks up a secret object's value (passwordid); null when there are no objects.</param>
    public static NbdTlsCredentials Create(string id, JsonObject properties, bool fromKeyval, Func<string, byte[]>? findSecret = null)
    {
        foreach (var (name, _) in properties)
        {
            if (!Members.Contains(name))
            {
                throw QmpException.Generic($"Parameter '{name}' is unexpected");
            }
        }
        string? passwordId = String(properties, "passwordid");
        if (passwordId is not null && findSecret is null)
        {
            throw QmpException.Generic($"No secret with id '{passwordId}'");
        }
        var endpoint = String(properties, "endpoint") switch
        {
            null or "client" => NbdTlsEndpoint.Client,
            "server" => NbdTlsEndpoint.Server,
            var other => throw QmpException.Generic($"Parameter 'endpoint' does not accept value '{other}'"),
        };
        bool verifyPeer = Bool(properties, "verify-peer", fromKeyval) ?? true;
        Bool(properties, "sanity-check", fromKeyval);
        Bool(properties, "loaded", fromKeyval);
        string dir = String(properties, "dir") ?? throw QmpException.Generic("Missing 'dir' property value");
        try
        {
            Func<string>? password = passwordId is null ? null : () => System.Text.Encoding.UTF8.GetString(findSecret!(passwordId));
            return NbdTlsCredentials.Load(id, dir, endpoint, verifyPeer, password);
        }
        catch (BlockException e)
        {
            throw QmpException.Generic(e.Message);
        }
    }

    private static string? String(JsonObject properties, string name) => properties[name] switch
    {
        null => null,
        JsonValue value when value.TryGetValue(out string? text) => text,
        _ => throw QmpException.Generic($"Invalid parameter type for '{name}', expected: string"),
    };

    private static bool? Bool(JsonObject properties, string name, bool fromKeyval)
    {
        var node = properties[name];
        if (node is null)
        {
            return null;
        }
        if (fromKeyval)
        {
            return String(properties, name) switch
            {
                "on" or "yes" or "true" or "y" => true,
                "off" or "no" or "false" or "n" => false,
                _ => throw QmpException.Generic($"Parameter '{name}' expects 'on' or 'off'"),
            };
        }
        return node is JsonValue value && value.TryGetValue(out bool b) ? b : throw QmpException.Generic($"Invalid parameter type for '{name}', expected: boolean");
    }
}
