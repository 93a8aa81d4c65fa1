using System.Buffers.Binary;
using System.Text;

namespace BlockDaemon.Qcow2.Format;

/// <summary>
/// One internal snapshot table entry:
/// <code>
///  0 l1_table_offset (u64)  8 l1_size (u32)  12 id_str_size (u16)  14 name_size (u16)
/// 16 date_sec (u32)  20 date_nsec (u32)  24 vm_clock_nsec (u64)  32 vm_state_size (u32)
/// 36 extra_data_size (u32)  40 extra data: [vm_state_size_large u64][disk_size u64][icount u64]...
/// then id string, name, padding to a multiple of 8
/// </code>
/// </summary>
public sealed record SnapshotEntry
{
    public const int MaxExtraData = 1024;

    /// <summary>Length of the fixed part of an entry (QEMU sizes the table by it when validating the header).</summary>
    public const int FixedLength = 40;

    public required ulong L1TableOffset { get; init; }
    public required uint L1Size { get; init; }
    public required string Id { get; init; }
    public required string Name { get; init; }
    public uint DateSeconds { get; init; }
    public uint DateNanoseconds { get; init; }
    public ulong VmClockNanoseconds { get; init; }
    public ulong VmStateSize { get; init; }
    public ulong? DiskSize { get; init; }
    public long? Icount { get; init; }

    /// <summary>Extra data beyond the fields this version knows, kept for rewrites.</summary>
    public byte[] UnknownExtraData { get; init; } = [];

    /// <summary>Parses the entry at the start of <paramref name="data"/>; returns its length, or 0 when more bytes are needed.</summary>
    public static int TryRead(ReadOnlySpan<byte> data, out SnapshotEntry? entry)
    {
        entry = null;
        if (data.Length < 40)
        {
            return 0;
        }
        uint extraSize = BinaryPrimitives.ReadUInt32BigEndian(data[36..]);
        if (extraSize > MaxExtraData)
        {
            throw Qcow2Errors.Invalid("Too much extra metadata in snapshot table entry");
        }
        int idSize = BinaryPrimitives.ReadUInt16BigEndian(data[12..]);
        int nameSize = BinaryPrimitives.ReadUInt16BigEndian(data[14..]);
        int length = 40 + (int)extraSize + idSize + nameSize;
        length = (length + 7) & ~7;
        if (data.Length < length)
        {
            return 0;
        }
        var extra = data.Slice(40, (int)extraSize);
        ulong vmState = BinaryPrimitives.ReadUInt32BigEndian(data[32..]);
        ulong? diskSize = null;
        long? icount = null;
        if (extra.Length >= 8)
        {
            vmState = BinaryPrimitives.ReadUInt64BigEndian(extra);
        }
        if (extra.Length >= 16)
        {
            diskSize = BinaryPrimitives.ReadUInt64BigEndian(extra[8..]);
        }
        if (extra.Length >= 24)
        {
            icount = BinaryPrimitives.ReadInt64BigEndian(extra[16..]);
        }
        int strings = 40 + (int)extraSize;
        entry = new SnapshotEntry
        {
            L1TableOffset = BinaryPrimitives.ReadUInt64BigEndian(data),
            L1Size = BinaryPrimitives.ReadUInt32BigEndian(data[8..]),
            DateSeconds = BinaryPrimitives.ReadUInt32BigEndian(data[16..]),
            DateNanoseconds = BinaryPrimitives.ReadUInt32BigEndian(data[20..]),
            VmClockNanoseconds = BinaryPrimitives.ReadUInt64BigEndian(data[24..]),
            VmStateSize = vmState,
            DiskSize = diskSize,
            Icount = icount,
            UnknownExtraData = extra.Length > 24 ? extra[24..].ToArray() : [],
            Id = Encoding.UTF8.GetString(data.Slice(strings, idSize)),
            Name = Encoding.UTF8.GetString(data.Slice(strings + idSize, nameSize)),
        };
        return length;
    }

    /// <summary>The entry's size on disk.</summary>
    public int EncodedLength
    {
        get
        {
            int length = 40 + 24 + UnknownExtraData.Length + Encoding.UTF8.GetByteCount(Id) + Encoding.UTF8.GetByteCount(Name);
            return (length + 7) & ~7;
        }
    }

    public int Write(Span<byte> data)
    {
        int length = EncodedLength;
        data[..length].Clear();
        BinaryPrimitives.WriteUInt64BigEndian(data, L1TableOffset);
        BinaryPrimitives.WriteUInt32BigEndian(data[8..], L1Size);
        BinaryPrimitives.WriteUInt16BigEndian(data[12..], (ushort)Encoding.UTF8.GetByteCount(Id));
        BinaryPrimitives.WriteUInt16BigEndian(data[14..], (ushort)Encoding.UTF8.GetByteCount(Name));
        BinaryPrimitives.WriteUInt32BigEndian(data[16..], DateSeconds);
        BinaryPrimitives.WriteUInt32BigEndian(data[20..], DateNanoseconds);
        BinaryPrimitives.WriteUInt64BigEndian(data[24..], VmClockNanoseconds);
        // A VM state too big for the old 32-bit field reads as 0 there, so that older programs see
        // a disk-only snapshot rather than a truncated state (as QEMU writes it).
        BinaryPrimitives.WriteUInt32BigEndian(data[32..], VmStateSize <= uint.MaxValue ? (uint)VmStateSize : 0);
        BinaryPrimitives.WriteUInt32BigEndian(data[36..], (uint)(24 + UnknownExtraData.Length));
        BinaryPrimitives.WriteUInt64BigEndian(data[40..], VmStateSize);
        BinaryPrimitives.WriteUInt64BigEndian(data[48..], DiskSize ?? 0);
        BinaryPrimitives.WriteInt64BigEndian(data[56..], Icount ?? -1);
        UnknownExtraData.CopyTo(data[64..]);
        int strings = 64 + UnknownExtraData.Length;
        int idLength = Encoding.UTF8.GetBytes(Id, data[strings..]);
        Encoding.UTF8.GetBytes(Name, data[(strings + idLength)..]);
        return length;
    }
}
