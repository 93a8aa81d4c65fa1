using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace BlockDaemon.Qmp.Objects;

/// <summary>
/// Builds a secret's bytes as qemu's secret objects do, with their errors: data or file, then
/// AES-256-CBC decryption with keyid and iv (the ciphertext base64-decoded first when format is
/// base64), or else base64 decoding when format says so.
/// </summary>
internal static class SecretLoader
{
    private const string Base64Characters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\n";

    public static byte[] Load(JsonObject properties, UserObjectRegistry objects)
    {
        string? data = properties["data"]?.GetValue<string>();
        string? file = properties["file"]?.GetValue<string>();
        if (data is not null && file is not null)
        {
            throw QmpException.Generic("'file' and 'data' are mutually exclusive");
        }
        if (data is null && file is null)
        {
            throw QmpException.Generic("Either 'file' or 'data' must be provided");
        }
        byte[] input = data is not null ? Encoding.UTF8.GetBytes(data) : ReadFile(file!);
        bool base64 = properties["format"]?.GetValue<string>() == "base64";
        if (properties["keyid"]?.GetValue<string>() is { } keyId)
        {
            return Decrypt(input, base64, keyId, properties["iv"]?.GetValue<string>(), objects);
        }
        return base64 ? DecodeBase64(input) : input;
    }

    private static byte[] ReadFile(string path)
    {
        try
        {
            return File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // glib's g_file_get_contents words, as qemu passes them on.
            string reason = e switch
            {
                FileNotFoundException or DirectoryNotFoundException => "No such file or directory",
                UnauthorizedAccessException => "Permission denied",
                _ => e.Message,
            };
            throw QmpException.Generic($"Unable to read {path}: Failed to open file \u201c{path}\u201d: {reason}");
        }
    }

    /// <summary>A secret's bytes by id, for users of secrets (keyid, passwordid).</summary>
    public static byte[] Lookup(string id, UserObjectRegistry objects) => objects.Find(id) switch
    {
        SecretObject secret => secret.Value,
        null => throw QmpException.Generic($"No secret with id '{id}'"),
        _ => throw QmpException.Generic($"Object with id '{id}' is not a secret"),
    };

    private static byte[] Decrypt(byte[] input, bool base64, string keyId, string? ivText, UserObjectRegistry objects)
    {
        byte[] key = Lookup(keyId, objects);
        if (key.Length != 32)
        {
            throw QmpException.Generic("Key should be 32 bytes in length");
        }
        if (ivText is null)
        {
            throw QmpException.Generic("IV is required to decrypt secret");
        }
        byte[] iv = DecodeBase64(Encoding.UTF8.GetBytes(ivText));
        if (iv.Length != 16)
        {
            throw QmpException.Generic($"IV should be 16 bytes in length not {iv.Length}");
        }
        byte[] ciphertext = base64 ? DecodeBase64(input) : input;
        if (ciphertext.Length % 16 != 0)
        {
            throw QmpException.Generic($"Length {ciphertext.Length} must be a multiple of block size 16");
        }
        using var aes = Aes.Create();
        aes.Key = key;
        byte[] plain = aes.DecryptCbc(ciphertext, iv, PaddingMode.None);
        // qemu strips the padding by the last byte's count, checking only that it fits.
        int pad = plain.Length == 0 ? 0 : plain[^1];
        if (pad > plain.Length)
        {
            throw QmpException.Generic($"Incorrect number of padding bytes ({pad}) found on decrypted data");
        }
        return plain[..^pad];
    }

    /// <summary>qemu's qbase64_decode: a strict character check, then glib's lenient decoding (an incomplete last group is dropped).</summary>
    public static byte[] DecodeBase64(byte[] text)
    {
        if (Array.IndexOf(text, (byte)0) >= 0)
        {
            throw QmpException.Generic("Data contains embedded NUL characters");
        }
        var chars = new StringBuilder(text.Length);
        foreach (byte b in text)
        {
            if (Base64Characters.IndexOf((char)b) < 0)
            {
                throw QmpException.Generic("Base64 data contains invalid characters");
            }
            if (b != '\n')
            {
                chars.Append((char)b);
            }
        }
        string whole = chars.ToString(0, chars.Length / 4 * 4);
        try
        {
            return Convert.FromBase64String(whole);
        }
        catch (FormatException)
        {
            // Padding in the middle: glib decodes around it; treat the text as ending there.
            int end = whole.IndexOf('=');
            return end < 0 ? [] : Convert.FromBase64String(whole[..(end / 4 * 4)]);
        }
    }
}
