using System.Buffers;

namespace BlockDaemon.Nbd.Protocol;

/// <summary>The fixed part of a client option; <see cref="Length"/> bytes of option data follow.</summary>
public readonly record struct NbdOptionHeader(uint Option, uint Length)
{
    public const int Size = 16;

    // C: 64 bits, 0x49484156454F5054 ("IHAVEOPT")
    // C: 32 bits, option
    // C: 32 bits, length of option data (unsigned)
    // C: any data needed for the chosen option, of length as specified above
    public static bool TryRead(ref ReadOnlySequence<byte> buffer, out NbdOptionHeader header)
    {
        header = default;
        if (buffer.Length < Size)
        {
            return false;
        }
        var reader = new SequenceReader<byte>(buffer);
        reader.TryReadBigEndian(out long magic);
        reader.TryReadBigEndian(out int option);
        reader.TryReadBigEndian(out int length);
        if ((ulong)magic != NbdMagic.Option)
        {
            NbdProtocolException.Throw($"Bad option magic 0x{(ulong)magic:x16} (expected IHAVEOPT)");
        }
        header = new NbdOptionHeader((uint)option, (uint)length);
        buffer = buffer.Slice(reader.Position);
        return true;
    }
}
