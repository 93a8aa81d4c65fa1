using System.Buffers;

namespace BlockDaemon.Nbd.Protocol;

/// <summary>The client's answer to the greeting: its flags.</summary>
public readonly record struct NbdClientGreeting(NbdClientFlags Flags)
{
    public const int Size = 4;

    // C: 32 bits, client flags (NBD_FLAG_C_FIXED_NEWSTYLE = 1, NBD_FLAG_C_NO_ZEROES = 2)
    public static bool TryRead(ref ReadOnlySequence<byte> buffer, out NbdClientGreeting greeting)
    {
        var reader = new SequenceReader<byte>(buffer);
        if (!reader.TryReadBigEndian(out int flags))
        {
            greeting = default;
            return false;
        }
        greeting = new NbdClientGreeting((NbdClientFlags)(uint)flags);
        buffer = buffer.Slice(reader.Position);
        return true;
    }
}
