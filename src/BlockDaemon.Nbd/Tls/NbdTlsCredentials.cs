using System.Net.Security;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using BlockDaemon.Core.Errors;

namespace BlockDaemon.Nbd.Tls;

/// <summary>Which side of a TLS session credentials are for (QEMU's QCryptoTLSCredsEndpoint).</summary>
public enum NbdTlsEndpoint
{
    Server,
    Client,
}

/// <summary>
/// A tls-creds-x509 object: PEM files in <see cref="Directory"/> named as QEMU expects them
/// (ca-cert.pem; server-cert.pem and server-key.pem for a server, client-cert.pem and
/// client-key.pem, optional, for a client), loaded once when the object is created so a bad
/// directory is refused there, as qemu refuses it. Peers are checked against ca-cert.pem only,
/// never against the system's trust store.
/// </summary>
public sealed class NbdTlsCredentials : IDisposable
{
    private readonly X509Certificate2 _ca;
    private readonly X509Certificate2? _certificate;

    private NbdTlsCredentials(string id, string directory, NbdTlsEndpoint endpoint, bool verifyPeer, X509Certificate2 ca, X509Certificate2? certificate)
    {
        Id = id;
        Directory = directory;
        Endpoint = endpoint;
        VerifyPeer = verifyPeer;
        _ca = ca;
        _certificate = certificate;
    }

    public string Id { get; }

    public string Directory { get; }

    public NbdTlsEndpoint Endpoint { get; }

    /// <summary>A server asks for and checks a client certificate; a client checks the server's (always, as qemu's NBD client does).</summary>
    public bool VerifyPeer { get; }

    /// <summary>Loads the files in qemu's order; a missing required file gets qemu's "Unable to access credentials PATH: ...".</summary>
    /// <param name="keyPassword">
    /// passwordid: asked for the password of an encrypted private key once the files are known to
    /// exist (qemu looks the secret up there too); null when the key is not encrypted.
    /// </param>
    public static NbdTlsCredentials Load(string id, string directory, NbdTlsEndpoint endpoint, bool verifyPeer, Func<string>? keyPassword = null)
    {
        string role = endpoint == NbdTlsEndpoint.Server ? "server" : "client";
        string caPath = Path.Combine(directory, "ca-cert.pem");
        string certPath = Path.Combine(directory, $"{role}-cert.pem");
        string keyPath = Path.Combine(directory, $"{role}-key.pem");
        RequireFile(caPath);
        bool certRequired = endpoint == NbdTlsEndpoint.Server;
        if (certRequired)
        {
            RequireFile(certPath);
            RequireFile(keyPath);
        }
        string? password = keyPassword?.Invoke();
        X509Certificate2? ca = null;
        try
        {
            ca = X509CertificateLoader.LoadCertificateFromFile(caPath);
            X509Certificate2? certificate = null;
            if (File.Exists(certPath) && File.Exists(keyPath))
            {
                using var ephemeral = LoadPair(certPath, keyPath, password);
                // SslStream wants a certificate whose key it can use; a PKCS#12 round trip gives
                // one on every platform.
                certificate = X509CertificateLoader.LoadPkcs12(ephemeral.Export(X509ContentType.Pkcs12), null);
            }
            return new NbdTlsCredentials(id, directory, endpoint, verifyPeer, ca, certificate);
        }
        catch (CryptographicException e)
        {
            ca?.Dispose();
            throw BlockException.Invalid($"Unable to import credentials in {directory}: {e.Message}");
        }
        catch (BlockException)
        {
            ca?.Dispose();
            throw;
        }
    }

    // An encrypted key (PKCS#8 "ENCRYPTED PRIVATE KEY") needs the password; a plain key ignores
    // one, as gnutls does. A wrong or missing password gets gnutls's words through qemu.
    private static X509Certificate2 LoadPair(string certPath, string keyPath, string? password)
    {
        if (!File.ReadAllText(keyPath).Contains("-----BEGIN ENCRYPTED PRIVATE KEY-----", StringComparison.Ordinal))
        {
            return X509Certificate2.CreateFromPemFile(certPath, keyPath);
        }
        try
        {
            return X509Certificate2.CreateFromEncryptedPemFile(certPath, password ?? "", keyPath);
        }
        catch (CryptographicException)
        {
            throw BlockException.Invalid($"Cannot load certificate '{certPath}' & key '{keyPath}': Decryption has failed.");
        }
    }

    private static void RequireFile(string path)
    {
        if (!File.Exists(path))
        {
            throw BlockException.Invalid($"Unable to access credentials {path}: No such file or directory");
        }
    }

    public SslServerAuthenticationOptions ServerOptions() => new()
    {
        ServerCertificate = _certificate,
        ClientCertificateRequired = VerifyPeer,
        RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
            !VerifyPeer || (certificate is not null && SignedByOurCa(certificate)),
    };

    /// <summary>
    /// Options for a client that expects the server's certificate to name <paramref name="hostname"/>;
    /// <paramref name="refusal"/> receives why a certificate was refused, in gnutls's words as qemu reports them.
    /// </summary>
    public SslClientAuthenticationOptions ClientOptions(string hostname, StrongBox<string?> refusal) => new()
    {
        TargetHost = hostname,
        ClientCertificates = _certificate is null ? null : new X509CertificateCollection { _certificate },
        RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
        {
            if (certificate is null)
            {
                refusal.Value = "No certificate was found";
                return false;
            }
            if (!SignedByOurCa(certificate))
            {
                refusal.Value = "The certificate hasn't got a known issuer";
                return false;
            }
            if ((errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0)
            {
                refusal.Value = $"Certificate does not match the hostname {hostname}";
                return false;
            }
            return true;
        },
    };

    private bool SignedByOurCa(X509Certificate certificate)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(_ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        using var leaf = new X509Certificate2(certificate);
        return chain.Build(leaf);
    }

    public void Dispose()
    {
        _ca.Dispose();
        _certificate?.Dispose();
    }
}
