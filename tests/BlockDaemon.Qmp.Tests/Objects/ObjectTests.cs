using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json.Nodes;
using BlockDaemon.Qmp.Exports;
using BlockDaemon.Qmp.Objects;

namespace BlockDaemon.Qmp.Tests.Objects;

/// <summary>Secrets (decoding, decryption), the object registry and the tls-authz name check, in qemu's words.</summary>
public class ObjectTests
{
    private static JsonObject Secret(string id, params (string Key, string Value)[] properties)
    {
        var args = new JsonObject { ["qom-type"] = "secret", ["id"] = id };
        foreach (var (key, value) in properties)
        {
            args[key] = value;
        }
        return args;
    }

    private static BlockExportRegistry NewExports() =>
        new(new Core.Graph.BlockGraph(), new Server.EventBus(), new Server.ControlLoop(), Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);

    private static byte[] ValueOf(BlockExportRegistry exports, string id) => ((SecretObject)exports.Objects.Find(id)!).Value;

    [Theory]
    [InlineData("raw", "letmein", "letmein")]
    [InlineData("base64", "aGVsbG8=", "hello")]
    [InlineData("base64", "aGVs\nbG8=", "hello")]
    [InlineData("base64", "abc", "")]
    [InlineData("base64", "", "")]
    public void Secrets_decode_as_qemu_does(string format, string data, string expected)
    {
        var exports = NewExports();
        ObjectFactory.Add(Secret("s", ("format", format), ("data", data)), exports);
        Assert.Equal(expected, Encoding.UTF8.GetString(ValueOf(exports, "s")));
    }

    [Fact]
    public void An_encrypted_secret_is_decrypted_with_its_key_and_iv()
    {
        var exports = NewExports();
        byte[] key = RandomNumberGenerator.GetBytes(32);
        byte[] iv = RandomNumberGenerator.GetBytes(16);
        using var aes = Aes.Create();
        aes.Key = key;
        byte[] ciphertext = aes.EncryptCbc(Encoding.UTF8.GetBytes("the password"), iv, PaddingMode.PKCS7);
        ObjectFactory.Add(Secret("k", ("format", "base64"), ("data", Convert.ToBase64String(key))), exports);
        ObjectFactory.Add(Secret("s", ("format", "base64"), ("data", Convert.ToBase64String(ciphertext)), ("keyid", "k"), ("iv", Convert.ToBase64String(iv))), exports);
        Assert.Equal("the password", Encoding.UTF8.GetString(ValueOf(exports, "s")));
    }

    [Theory]
    [InlineData("nosuch", "AAAAAAAAAAAAAAAAAAAAAA==", "No secret with id 'nosuch'")]
    [InlineData("short", "AAAAAAAAAAAAAAAAAAAAAA==", "Key should be 32 bytes in length")]
    [InlineData("k32", null, "IV is required to decrypt secret")]
    [InlineData("k32", "AAAA", "IV should be 16 bytes in length not 3")]
    [InlineData("k32", "AAAAAAAAAAAAAAAAAAAAAA==", "Length 4 must be a multiple of block size 16")]
    public void Decryption_errors_are_qemus(string keyId, string? iv, string message)
    {
        var exports = NewExports();
        ObjectFactory.Add(Secret("short", ("data", "0123456789abcdef")), exports);
        ObjectFactory.Add(Secret("k32", ("data", "0123456789abcdef0123456789abcdef")), exports);
        var args = Secret("s", ("data", "AAAA"), ("keyid", keyId));
        if (iv is not null)
        {
            args["iv"] = iv;
        }
        var e = Assert.Throws<QmpException>(() => ObjectFactory.Add(args, exports));
        Assert.Equal(message, e.Message);
        Assert.Null(exports.Objects.Find("s"));
    }

    [Theory]
    [InlineData("", "", "Either 'file' or 'data' must be provided")]
    [InlineData("x", "/nonexistent", "'file' and 'data' are mutually exclusive")]
    [InlineData("a!b", "", "Base64 data contains invalid characters")]
    public void Bad_secrets_are_refused(string data, string file, string message)
    {
        var exports = NewExports();
        var args = Secret("s", ("format", "base64"));
        if (data.Length > 0)
        {
            args["data"] = data;
        }
        if (file.Length > 0)
        {
            args["file"] = file;
        }
        Assert.Equal(message, Assert.Throws<QmpException>(() => ObjectFactory.Add(args, exports)).Message);
    }

    [Fact]
    public void Ids_are_unique_across_types_and_free_again_after_delete()
    {
        var exports = NewExports();
        ObjectFactory.Add(Secret("x", ("data", "1")), exports);
        var e = Assert.Throws<QmpException>(() => ObjectFactory.Add(new JsonObject { ["qom-type"] = "iothread", ["id"] = "x" }, exports));
        Assert.Equal("attempt to add duplicate property 'x' to object (type 'container')", e.Message);
        ObjectFactory.Delete("x", exports);
        Assert.Equal("object 'x' not found", Assert.Throws<QmpException>(() => ObjectFactory.Delete("x", exports)).Message);
        ObjectFactory.Add(new JsonObject { ["qom-type"] = "iothread", ["id"] = "x" }, exports);
        Assert.IsType<IothreadObject>(exports.Objects.Find("x"));
    }

    [Theory]
    [InlineData("CN=client", "CN=client")]
    [InlineData("CN=client, O=Example, C=US", "CN=client,O=Example,C=US")]
    [InlineData("CN=\"a, b\", OU=ops", "CN=a\\, b,OU=ops")]
    public void Distinguished_names_read_as_gnutls_prints_them(string name, string expected) =>
        Assert.Equal(expected, TlsAuthorization.DistinguishedName(new X500DistinguishedName(name)));

    [Fact]
    public void Tls_authz_looks_the_object_up_for_each_client()
    {
        var exports = NewExports();
        var check = TlsAuthorization.For("a0", exports.Objects);
        using var rsa = RSA.Create(2048);
        using var certificate = new CertificateRequest("CN=client", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1)
            .CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        Assert.Equal("No authorization object with id 'a0'", check(certificate));
        ObjectFactory.Add(new JsonObject { ["qom-type"] = "authz-simple", ["id"] = "a0", ["identity"] = "CN=other" }, exports);
        Assert.Equal("TLS x509 authz check for CN=client is denied", check(certificate));
        ObjectFactory.Delete("a0", exports);
        ObjectFactory.Add(new JsonObject { ["qom-type"] = "authz-simple", ["id"] = "a0", ["identity"] = "CN=client" }, exports);
        Assert.Null(check(certificate));
        Assert.Equal("No certificate was found", check(null));
    }
}
