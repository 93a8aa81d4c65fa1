using System.Buffers.Binary;
using System.Text;

namespace BlockDaemon.Qcow2.Format;

/// <summary>
/// One entry of the bitmap directory (the bitmaps extension points at the directory):
/// <code>
///  0 bitmap_table_offset (u64)  8 bitmap_table_size (u32, entries)  12 flags (u32: 0 in_use, 1 auto, 2 extra_data_compatible)
/// 16 type (u8, 1 = dirty tracking)  17 granularity_bits (u8)  18 name_size (u16)  20 extra_data_size (u32)
/// 24 extra data, then the name, padded to a multiple of 8
/// </code>
/// </summary>
public sealed record BitmapDirectoryEntry
{
    public const int FixedLength = 24;
    public const uint InUseFlag = 1;
    public const uint AutoFlag = 2;
    public const uint ExtraDataCompatibleFlag = 4;
    public const uint ReservedFlags = ~(InUseFlag | AutoFlag | ExtraDataCompatibleFlag);
    public const byte DirtyTrackingType = 1;

    public required ulong TableOffset { get; init; }
    public required uint TableSize { get; init; }
    public required uint Flags { get; init; }
    public required byte Type { get; init; }
    public required byte GranularityBits { get; init; }
    public required string Name { get; init; }
    public uint ExtraDataSize { get; init; }
    public int NameSize { get; init; }

    public bool InUse => (Flags & InUseFlag) != 0;
    public bool Auto => (Flags & AutoFlag) != 0;
    public long Granularity => 1L << GranularityBits;

    /// <summary>Bytes the entry takes in the directory (fixed part, extra data, name, padding).</summary>
    public static int EncodedLength(int nameSize, uint extraDataSize) => (int)((FixedLength + nameSize + extraDataSize + 7) & ~7L);

    /// <summary>Reads the entry at the start of <paramref name="data"/>; false when the fixed part or the whole entry runs past its end.</summary>
    public static bool TryRead(ReadOnlySpan<byte> data, out BitmapDirectoryEntry? entry, out int length)
    {
        entry = null;
        length = 0;
        if (data.Length < FixedLength)
        {
            return false;
        }
        int nameSize = BinaryPrimitives.ReadUInt16BigEndian(data[18..]);
        uint extraSize = BinaryPrimitives.ReadUInt32BigEndian(data[20..]);
        long encoded = (FixedLength + nameSize + (long)extraSize + 7) & ~7L;
        entry = new BitmapDirectoryEntry
        {
            TableOffset = BinaryPrimitives.ReadUInt64BigEndian(data),
            TableSize = BinaryPrimitives.ReadUInt32BigEndian(data[8..]),
            Flags = BinaryPrimitives.ReadUInt32BigEndian(data[12..]),
            Type = data[16],
            GranularityBits = data[17],
            ExtraDataSize = extraSize,
            NameSize = nameSize,
            Name = encoded <= data.Length ? Encoding.UTF8.GetString(data.Slice(FixedLength + (int)extraSize, nameSize)) : "",
        };
        length = (int)Math.Min(encoded, int.MaxValue);
        return encoded <= data.Length;
    }

    /// <summary>Writes the entry (no extra data) at the start of <paramref name="data"/>; returns its encoded length.</summary>
    public int Write(Span<byte> data)
    {
        byte[] name = Encoding.UTF8.GetBytes(Name);
        int length = EncodedLength(name.Length, 0);
        data[..length].Clear();
        BinaryPrimitives.WriteUInt64BigEndian(data, TableOffset);
        BinaryPrimitives.WriteUInt32BigEndian(data[8..], TableSize);
        BinaryPrimitives.WriteUInt32BigEndian(data[12..], Flags);
        data[16] = Type;
        data[17] = GranularityBits;
        BinaryPrimitives.WriteUInt16BigEndian(data[18..], (ushort)name.Length);
        name.CopyTo(data[FixedLength..]);
        return length;
    }
}
