using System.Buffers.Binary;

namespace BlockDaemon.Qcow2.Engine;

/// <summary>
/// Refcount entries inside a refcount block: widths below 8 bits are packed low bit first in
/// each byte; 8 bits and up are big-endian integers.
/// </summary>
internal static class Refcounts
{
    public static ulong Read(ReadOnlySpan<byte> block, int order, long index) => order switch
    {
        0 => (ulong)((block[(int)(index >> 3)] >> (int)(index & 7)) & 1),
        1 => (ulong)((block[(int)(index >> 2)] >> (int)(2 * (index & 3))) & 3),
        2 => (ulong)((block[(int)(index >> 1)] >> (int)(4 * (index & 1))) & 15),
        3 => block[(int)index],
        4 => BinaryPrimitives.ReadUInt16BigEndian(block[(int)(index * 2)..]),
        5 => BinaryPrimitives.ReadUInt32BigEndian(block[(int)(index * 4)..]),
        _ => BinaryPrimitives.ReadUInt64BigEndian(block[(int)(index * 8)..]),
    };

    public static void Write(Span<byte> block, int order, long index, ulong value)
    {
        switch (order)
        {
            case <= 2:
                int bits = 1 << order;
                int perByte = 8 / bits;
                int shift = (int)(index % perByte) * bits;
                int mask = ((1 << bits) - 1) << shift;
                ref byte b = ref block[(int)(index / perByte)];
                b = (byte)((b & ~mask) | ((int)value << shift));
                break;
            case 3:
                block[(int)index] = (byte)value;
                break;
            case 4:
                BinaryPrimitives.WriteUInt16BigEndian(block[(int)(index * 2)..], (ushort)value);
                break;
            case 5:
                BinaryPrimitives.WriteUInt32BigEndian(block[(int)(index * 4)..], (uint)value);
                break;
            default:
                BinaryPrimitives.WriteUInt64BigEndian(block[(int)(index * 8)..], value);
                break;
        }
    }
}
