using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace BlockDaemon.Qmp.Objects;

/// <summary>
/// tls-authz of the NBD server: when a client's TLS handshake ends, the authorization object is
/// looked up by id (late, as qemu does: it need not exist when the server starts) and asked
/// whether the client certificate's distinguished name is allowed.
/// </summary>
public static class TlsAuthorization
{
    /// <summary>A check for the server: null when the peer is allowed, else why not (qemu's words).</summary>
    public static Func<X509Certificate?, string?> For(string authzId, UserObjectRegistry objects) => peer =>
    {
        if (peer is null)
        {
            return "No certificate was found";
        }
        using var certificate = new X509Certificate2(peer);
        string name = DistinguishedName(certificate.SubjectName);
        return objects.Find(authzId) switch
        {
            null => $"No authorization object with id '{authzId}'",
            AuthzSimpleObject simple when simple.Identity == name => null,
            AuthzSimpleObject => $"TLS x509 authz check for {name} is denied",
            _ => $"Object '{authzId}' is not a QAuthZ subclass",
        };
    };

    /// <summary>The name as gnutls prints it (RFC 4514: most specific first, short attribute names, commas).</summary>
    public static string DistinguishedName(X500DistinguishedName name)
    {
        var text = new StringBuilder();
        foreach (var rdn in name.EnumerateRelativeDistinguishedNames())
        {
            if (text.Length > 0)
            {
                text.Append(',');
            }
            string oid = rdn.GetSingleElementType().Value ?? "";
            text.Append(ShortName(oid)).Append('=');
            foreach (char c in rdn.GetSingleElementValue() ?? "")
            {
                if (c is ',' or '+' or '"' or '\\' or '<' or '>' or ';')
                {
                    text.Append('\\');
                }
                text.Append(c);
            }
        }
        return text.ToString();
    }

    private static string ShortName(string oid) => oid switch
    {
        "2.5.4.3" => "CN",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "0.9.2342.19200300.100.1.25" => "DC",
        "0.9.2342.19200300.100.1.1" => "UID",
        "1.2.840.113549.1.9.1" => "EMAIL",
        _ => oid,
    };
}
