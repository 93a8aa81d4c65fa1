using System.Buffers.Binary;
using System.Text;

namespace BlockDaemon.Qcow2.Tests.Malformed;

/// <summary>
/// Patches big-endian fields of one image file in place. Offsets of tables come from the header
/// as it is when asked, so patch the table entries before the header fields that move them.
/// </summary>
internal sealed class ImageEditor(string path)
{
    // Bits 9-55 of L1 entries, standard L2 entries and refcount table entries (qcow2.txt).
    public const ulong OffsetMask = 0x00ff_ffff_ffff_fe00;
    public const ulong Copied = 1UL << 63;
    public const ulong Compressed = 1UL << 62;

    public string Path { get; } = path;

    public Qcow2HeaderView Header => Qcow2HeaderView.Read(Path);

    public long Length => new FileInfo(Path).Length;

    public ulong ReadBe64(long offset)
    {
        var b = new byte[8];
        using var handle = File.OpenHandle(Path);
        RandomAccess.Read(handle, b, offset);
        return BinaryPrimitives.ReadUInt64BigEndian(b);
    }

    public uint ReadBe32(long offset)
    {
        var b = new byte[4];
        using var handle = File.OpenHandle(Path);
        RandomAccess.Read(handle, b, offset);
        return BinaryPrimitives.ReadUInt32BigEndian(b);
    }

    public byte[] ReadBytes(long offset, int length)
    {
        var b = new byte[length];
        using var handle = File.OpenHandle(Path);
        int done = RandomAccess.Read(handle, b, offset);
        return b[..done];
    }

    public ImageEditor Be64(long offset, ulong value)
    {
        var b = new byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(b, value);
        return Bytes(offset, b);
    }

    public ImageEditor Be32(long offset, uint value)
    {
        var b = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(b, value);
        return Bytes(offset, b);
    }

    public ImageEditor Byte(long offset, byte value) => Bytes(offset, [value]);

    public ImageEditor Bytes(long offset, ReadOnlySpan<byte> data)
    {
        using var handle = File.OpenHandle(Path, FileMode.Open, FileAccess.ReadWrite);
        RandomAccess.Write(handle, data, offset);
        return this;
    }

    public ImageEditor Truncate(long length)
    {
        using var handle = File.OpenHandle(Path, FileMode.Open, FileAccess.ReadWrite);
        RandomAccess.SetLength(handle, length);
        return this;
    }

    public ImageEditor SetIncompatible(ulong bits) =>
        Be64(Qcow2HeaderView.IncompatibleFeaturesOffset, Header.IncompatibleFeatures | bits);

    /// <summary>File offset of active L1 entry <paramref name="index"/>.</summary>
    public long L1EntryOffset(int index) => Header.L1TableOffset + (8L * index);

    /// <summary>File offset of entry <paramref name="index"/> of the L2 table L1 entry 0 points to.</summary>
    public long L2EntryOffset(int index)
    {
        long l2 = (long)(ReadBe64(L1EntryOffset(0)) & OffsetMask);
        if (l2 == 0)
        {
            throw new InvalidOperationException($"{Path} has no L2 table for L1 entry 0; write some data first");
        }
        return l2 + (8L * index);
    }

    public long RefcountTableEntryOffset(int index) => Header.RefcountTableOffset + (8L * index);

    /// <summary>
    /// Replaces the header extension area with <paramref name="extensions"/> (each padded to 8
    /// bytes, then the end marker), and stores <paramref name="backingName"/> after it, as
    /// qemu-img lays it out. The rest of the first cluster is zeroed.
    /// </summary>
    public ImageEditor RewriteExtensions(IEnumerable<(uint Type, byte[] Data)> extensions, string? backingName)
    {
        var header = Header;
        var area = new List<byte>();
        foreach (var (type, data) in extensions)
        {
            var prefix = new byte[8];
            BinaryPrimitives.WriteUInt32BigEndian(prefix, type);
            BinaryPrimitives.WriteUInt32BigEndian(prefix.AsSpan(4), (uint)data.Length);
            area.AddRange(prefix);
            area.AddRange(data);
            area.AddRange(new byte[((data.Length + 7) & ~7) - data.Length]);
        }
        area.AddRange(new byte[8]);
        int nameOffset = (int)header.HeaderLength + area.Count;
        if (backingName is not null)
        {
            area.AddRange(Encoding.UTF8.GetBytes(backingName));
        }
        var cluster = new byte[header.ClusterSize - (int)header.HeaderLength];
        area.CopyTo(cluster);
        Bytes(header.HeaderLength, cluster);
        if (backingName is null)
        {
            Be64(Qcow2HeaderView.BackingFileOffsetOffset, 0).Be32(Qcow2HeaderView.BackingFileSizeOffset, 0);
        }
        else
        {
            Be64(Qcow2HeaderView.BackingFileOffsetOffset, (ulong)nameOffset)
                .Be32(Qcow2HeaderView.BackingFileSizeOffset, (uint)Encoding.UTF8.GetByteCount(backingName));
        }
        return this;
    }

    /// <summary>
    /// Sets the backing file name, and the backing format extension to <paramref name="format"/>
    /// (removed when null); other extensions are kept.
    /// </summary>
    public ImageEditor SetBackingName(string name, string? format)
    {
        var extensions = Header.Extensions
            .Where(e => e.Type != Qcow2HeaderView.BackingFormatExtension)
            .Select(e => (e.Type, ReadBytes(e.DataOffset, e.Length)))
            .ToList();
        if (format is not null)
        {
            extensions.Insert(0, (Qcow2HeaderView.BackingFormatExtension, Encoding.ASCII.GetBytes(format)));
        }
        return RewriteExtensions(extensions, name);
    }
}
