using System.Buffers.Binary;
using BlockDaemon.Nbd.Protocol;

namespace BlockDaemon.Nbd.Client;

/// <summary>The fixed part of an option reply; <see cref="Length"/> bytes of data follow it.</summary>
public readonly record struct NbdOptionReply(uint Option, NbdOptionReplyType Type, uint Length)
{
    public const int Size = 20;

    public bool IsError => ((uint)Type & 0x80000000) != 0;

    // S: 64 bits, 0x3e889045565a9 (magic number for replies)
    // S: 32 bits, the option as sent by the client to which this is a reply
    // S: 32 bits, reply type
    // S: 32 bits, length of the reply
    public static NbdOptionReply Parse(ReadOnlySpan<byte> header)
    {
        ulong magic = BinaryPrimitives.ReadUInt64BigEndian(header);
        if (magic != NbdMagic.OptionReply)
        {
            NbdProtocolException.Throw($"Bad option reply magic 0x{magic:x16}");
        }
        return new NbdOptionReply(
            BinaryPrimitives.ReadUInt32BigEndian(header[8..]),
            (NbdOptionReplyType)BinaryPrimitives.ReadUInt32BigEndian(header[12..]),
            BinaryPrimitives.ReadUInt32BigEndian(header[16..]));
    }
}
