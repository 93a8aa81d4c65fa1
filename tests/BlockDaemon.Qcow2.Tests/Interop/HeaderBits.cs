using System.Buffers.Binary;

namespace BlockDaemon.Qcow2.Tests.Interop;

/// <summary>The qcow2 header bits a clean close must leave: neither dirty nor corrupt.</summary>
internal static class HeaderBits
{
    //  offset  field (big-endian)
    //   0      magic "QFI\xfb"
    //   4      version (2 or 3)
    //  72      incompatible_features (v3 only): bit 0 dirty, bit 1 corrupt
    private const ulong Dirty = 1;
    private const ulong Corrupt = 2;

    /// <summary>Null when the image is closed cleanly, else what is wrong.</summary>
    public static string? Problem(string path)
    {
        Span<byte> header = stackalloc byte[80];
        using (var file = File.OpenRead(path))
        {
            file.ReadExactly(header);
        }
        if (BinaryPrimitives.ReadUInt32BigEndian(header[4..]) < 3)
        {
            return null;
        }
        ulong incompatible = BinaryPrimitives.ReadUInt64BigEndian(header[72..]);
        if ((incompatible & (Dirty | Corrupt)) == 0)
        {
            return null;
        }
        return $"{Path.GetFileName(path)} has incompatible_features 0x{incompatible:x} after our driver closed it " +
            $"({((incompatible & Dirty) != 0 ? "dirty " : "")}{((incompatible & Corrupt) != 0 ? "corrupt" : "")})";
    }

    public static void AssertClean(string path, string context)
    {
        if (Problem(path) is { } problem)
        {
            Assert.Fail($"{context}: {problem}");
        }
    }
}
