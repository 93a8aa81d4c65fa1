using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace BlockDaemon.Nbd.Tests.Tls;

/// <summary>
/// A throw-away CA with a server certificate (localhost, 127.0.0.1) and a client certificate,
/// written as PEM files in QEMU's tls-creds-x509 layout: DIR/server and DIR/client.
/// </summary>
internal static class TestPki
{
    public static void Create(string dir)
    {
        using var caKey = RSA.Create(2048);
        var caRequest = new CertificateRequest("CN=blockd test CA", caKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        var now = DateTimeOffset.UtcNow;
        using var ca = caRequest.CreateSelfSigned(now.AddDays(-1), now.AddDays(30));
        Issue(dir, "server", "CN=localhost", ca, "1.3.6.1.5.5.7.3.1", san: true);
        Issue(dir, "client", "CN=client", ca, "1.3.6.1.5.5.7.3.2", san: false);
    }

    private static void Issue(string dir, string role, string subject, X509Certificate2 ca, string usageOid, bool san)
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, false));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(usageOid)], false));
        if (san)
        {
            var names = new SubjectAlternativeNameBuilder();
            names.AddDnsName("localhost");
            names.AddIpAddress(System.Net.IPAddress.Loopback);
            request.CertificateExtensions.Add(names.Build());
        }
        var now = DateTimeOffset.UtcNow;
        byte[] serial = RandomNumberGenerator.GetBytes(8);
        using var certificate = request.Create(ca, now.AddDays(-1), ca.NotAfter.AddDays(-1), serial);
        string roleDir = Path.Combine(dir, role);
        Directory.CreateDirectory(roleDir);
        File.WriteAllText(Path.Combine(roleDir, "ca-cert.pem"), ca.ExportCertificatePem());
        File.WriteAllText(Path.Combine(roleDir, $"{role}-cert.pem"), certificate.ExportCertificatePem());
        File.WriteAllText(Path.Combine(roleDir, $"{role}-key.pem"), key.ExportPkcs8PrivateKeyPem());
    }
}
