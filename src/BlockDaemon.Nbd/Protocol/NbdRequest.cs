using System.Buffers;

namespace BlockDaemon.Nbd.Protocol;

/// <summary>A transmission request header; a WRITE's <see cref="Length"/> bytes of data follow it.</summary>
public readonly record struct NbdRequest(NbdCommandFlags Flags, ushort Type, ulong Cookie, ulong Offset, uint Length)
{
    public const int Size = 28;

    public NbdCommand Command => (NbdCommand)Type;

    // C: 32 bits, 0x25609513, magic (NBD_REQUEST_MAGIC)
    // C: 16 bits, command flags
    // C: 16 bits, type
    // C: 64 bits, cookie
    // C: 64 bits, offset (unsigned)
    // C: 32 bits, length (unsigned)
    // C: (length bytes of data if the request is of type NBD_CMD_WRITE)
    public static bool TryRead(ref ReadOnlySequence<byte> buffer, out NbdRequest request)
    {
        request = default;
        if (buffer.Length < Size)
        {
            return false;
        }
        var reader = new SequenceReader<byte>(buffer);
        reader.TryReadBigEndian(out int magic);
        reader.TryReadBigEndian(out short flags);
        reader.TryReadBigEndian(out short type);
        reader.TryReadBigEndian(out long cookie);
        reader.TryReadBigEndian(out long offset);
        reader.TryReadBigEndian(out int length);
        if ((uint)magic != NbdMagic.Request)
        {
            NbdProtocolException.Throw($"Bad request magic 0x{(uint)magic:x8}");
        }
        request = new NbdRequest((NbdCommandFlags)(ushort)flags, (ushort)type, (ulong)cookie, (ulong)offset, (uint)length);
        buffer = buffer.Slice(reader.Position);
        return true;
    }
}
