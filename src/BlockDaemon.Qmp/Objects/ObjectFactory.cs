using System.Text.Json.Nodes;
using BlockDaemon.Nbd.Tls;
using BlockDaemon.Qmp.Exports;

namespace BlockDaemon.Qmp.Objects;

/// <summary>
/// Creates user objects from schema-validated ObjectOptions (object-add, --object), checking
/// what the schema cannot say in qemu's words, and registers them. As in qemu, a taken id is
/// refused before the object is loaded, and nothing is registered when loading fails.
/// </summary>
public static class ObjectFactory
{
    public static UserObject Add(JsonObject arguments, BlockExportRegistry exports)
    {
        var objects = exports.Objects;
        string type = arguments["qom-type"]!.GetValue<string>();
        string id = arguments["id"]!.GetValue<string>();
        if (objects.Contains(id))
        {
            throw UserObjectRegistry.DuplicateId(id);
        }
        UserObject created = type switch
        {
            "secret" => new SecretObject(id, SecretLoader.Load(arguments, objects)),
            "tls-creds-x509" => new TlsX509Object(id, TlsCredentialsObject.Create(id, Properties(arguments), fromKeyval: false, secret => SecretLoader.Lookup(secret, objects))),
            "tls-creds-psk" => LoadPsk(id, arguments),
            "authz-simple" => new AuthzSimpleObject(id, arguments["identity"]!.GetValue<string>()),
            "iothread" => new IothreadObject(id),
            // The schema's ObjectType lists exactly the cases above.
            _ => throw new InvalidOperationException($"ObjectType {type} has no factory"),
        };
        objects.Add(created);
        if (created is TlsX509Object x509)
        {
            exports.TlsCredentials[id] = x509.Credentials;
        }
        return created;
    }

    /// <summary>object-del: users that took the object keep it (qemu counts references); it only loses its id.</summary>
    public static void Delete(string id, BlockExportRegistry exports)
    {
        var removed = exports.Objects.Remove(id);
        if (removed is TlsX509Object)
        {
            exports.TlsCredentials.Remove(id);
        }
    }

    private static JsonObject Properties(JsonObject arguments)
    {
        var properties = new JsonObject();
        foreach (var (name, value) in arguments)
        {
            if (name != "qom-type")
            {
                properties[name] = value?.DeepClone();
            }
        }
        return properties;
    }

    // qemu's tls-creds-psk load: DIR/keys.psk must exist; a client also needs its user's key
    // in it (lines USERNAME:HEXKEY).
    private static TlsPskObject LoadPsk(string id, JsonObject arguments)
    {
        string dir = arguments["dir"]?.GetValue<string>() ?? throw QmpException.Generic("Missing 'dir' property value");
        var endpoint = arguments["endpoint"]?.GetValue<string>() == "server" ? NbdTlsEndpoint.Server : NbdTlsEndpoint.Client;
        string username = arguments["username"]?.GetValue<string>() ?? "qemu";
        string path = Path.Combine(dir, "keys.psk");
        if (!File.Exists(path))
        {
            throw QmpException.Generic($"Unable to access credentials {path}: No such file or directory");
        }
        if (endpoint == NbdTlsEndpoint.Client)
        {
            bool found = File.ReadLines(path).Any(line => line.StartsWith(username + ":", StringComparison.Ordinal));
            if (!found)
            {
                throw QmpException.Generic($"Username {username} not found in PSK file {path}");
            }
        }
        return new TlsPskObject(id, endpoint, dir, username);
    }
}
