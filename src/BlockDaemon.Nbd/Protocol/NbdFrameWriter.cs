using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace BlockDaemon.Nbd.Protocol;

/// <summary>
/// Writes server frames into a buffer writer (a PipeWriter's pooled segments). Each method writes
/// one whole frame or frame header, so a frame is never split between two writers.
/// </summary>
public static class NbdFrameWriter
{
    // S: 64 bits, 0x4e42444d41474943 ("NBDMAGIC")
    // S: 64 bits, 0x49484156454F5054 ("IHAVEOPT")
    // S: 16 bits, handshake flags
    public static void WriteGreeting(IBufferWriter<byte> output, NbdHandshakeFlags flags)
    {
        var span = output.GetSpan(18);
        BinaryPrimitives.WriteUInt64BigEndian(span, NbdMagic.Init);
        BinaryPrimitives.WriteUInt64BigEndian(span[8..], NbdMagic.Option);
        BinaryPrimitives.WriteUInt16BigEndian(span[16..], (ushort)flags);
        output.Advance(18);
    }

    // S: 64 bits, 0x3e889045565a9 (magic number for replies)
    // S: 32 bits, the option as sent by the client to which this is a reply
    // S: 32 bits, reply type
    // S: 32 bits, length of the reply (may be zero)
    // S: any data as required by the reply
    public static void WriteOptionReply(IBufferWriter<byte> output, uint option, NbdOptionReplyType type, ReadOnlySpan<byte> data)
    {
        var span = output.GetSpan(20 + data.Length);
        BinaryPrimitives.WriteUInt64BigEndian(span, NbdMagic.OptionReply);
        BinaryPrimitives.WriteUInt32BigEndian(span[8..], option);
        BinaryPrimitives.WriteUInt32BigEndian(span[12..], (uint)type);
        BinaryPrimitives.WriteUInt32BigEndian(span[16..], (uint)data.Length);
        data.CopyTo(span[20..]);
        output.Advance(20 + data.Length);
    }

    /// <summary>An error reply carries a human-readable UTF-8 message as its data.</summary>
    public static void WriteOptionError(IBufferWriter<byte> output, uint option, NbdOptionReplyType type, string message) =>
        WriteOptionReply(output, option, type, Encoding.UTF8.GetBytes(message));

    // NBD_REP_SERVER data: 32 bits length of name; name; the rest: description (UTF-8)
    public static void WriteServerReply(IBufferWriter<byte> output, uint option, string name, string? description)
    {
        byte[] nameBytes = Encoding.UTF8.GetBytes(name);
        byte[] descBytes = Encoding.UTF8.GetBytes(description ?? "");
        byte[] data = new byte[4 + nameBytes.Length + descBytes.Length];
        BinaryPrimitives.WriteUInt32BigEndian(data, (uint)nameBytes.Length);
        nameBytes.CopyTo(data, 4);
        descBytes.CopyTo(data, 4 + nameBytes.Length);
        WriteOptionReply(output, option, NbdOptionReplyType.Server, data);
    }

    // NBD_REP_INFO, NBD_INFO_EXPORT: 16 bits type (0); 64 bits size; 16 bits transmission flags
    public static void WriteInfoExport(IBufferWriter<byte> output, uint option, ulong size, NbdTransmissionFlags flags)
    {
        Span<byte> data = stackalloc byte[12];
        BinaryPrimitives.WriteUInt16BigEndian(data, (ushort)NbdInfoType.Export);
        BinaryPrimitives.WriteUInt64BigEndian(data[2..], size);
        BinaryPrimitives.WriteUInt16BigEndian(data[10..], (ushort)flags);
        WriteOptionReply(output, option, NbdOptionReplyType.Info, data);
    }

    // NBD_REP_INFO, NBD_INFO_NAME or NBD_INFO_DESCRIPTION: 16 bits type; the text (no length, fills the reply)
    public static void WriteInfoText(IBufferWriter<byte> output, uint option, NbdInfoType type, string text)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(text);
        byte[] data = new byte[2 + bytes.Length];
        BinaryPrimitives.WriteUInt16BigEndian(data, (ushort)type);
        bytes.CopyTo(data, 2);
        WriteOptionReply(output, option, NbdOptionReplyType.Info, data);
    }

    // NBD_REP_INFO, NBD_INFO_BLOCK_SIZE: 16 bits type (3); 32 bits minimum; 32 bits preferred; 32 bits maximum
    public static void WriteInfoBlockSize(IBufferWriter<byte> output, uint option, uint minimum, uint preferred, uint maximum)
    {
        Span<byte> data = stackalloc byte[14];
        BinaryPrimitives.WriteUInt16BigEndian(data, (ushort)NbdInfoType.BlockSize);
        BinaryPrimitives.WriteUInt32BigEndian(data[2..], minimum);
        BinaryPrimitives.WriteUInt32BigEndian(data[6..], preferred);
        BinaryPrimitives.WriteUInt32BigEndian(data[10..], maximum);
        WriteOptionReply(output, option, NbdOptionReplyType.Info, data);
    }

    // NBD_REP_META_CONTEXT: 32 bits context id; the context name (fills the reply)
    public static void WriteMetaContext(IBufferWriter<byte> output, uint option, uint contextId, string name)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(name);
        byte[] data = new byte[4 + bytes.Length];
        BinaryPrimitives.WriteUInt32BigEndian(data, contextId);
        bytes.CopyTo(data, 4);
        WriteOptionReply(output, option, NbdOptionReplyType.MetaContext, data);
    }

    // Reply to NBD_OPT_EXPORT_NAME (no option reply header):
    // S: 64 bits, size of the export; S: 16 bits, transmission flags; S: 124 bytes, zeroes (unless NO_ZEROES)
    public static void WriteExportNameReply(IBufferWriter<byte> output, ulong size, NbdTransmissionFlags flags, bool noZeroes)
    {
        int length = noZeroes ? 10 : 134;
        var span = output.GetSpan(length)[..length];
        BinaryPrimitives.WriteUInt64BigEndian(span, size);
        BinaryPrimitives.WriteUInt16BigEndian(span[8..], (ushort)flags);
        span[10..].Clear();
        output.Advance(length);
    }

    // S: 32 bits, 0x67446698, magic (NBD_SIMPLE_REPLY_MAGIC)
    // S: 32 bits, error (MAY be zero)
    // S: 64 bits, cookie
    // S: (length bytes of data if the request is of type NBD_CMD_READ and error is zero)
    public static void WriteSimpleReply(IBufferWriter<byte> output, uint error, ulong cookie)
    {
        var span = output.GetSpan(16);
        BinaryPrimitives.WriteUInt32BigEndian(span, NbdMagic.SimpleReply);
        BinaryPrimitives.WriteUInt32BigEndian(span[4..], error);
        BinaryPrimitives.WriteUInt64BigEndian(span[8..], cookie);
        output.Advance(16);
    }

    // S: 32 bits, 0x668e33ef, magic (NBD_STRUCTURED_REPLY_MAGIC)
    // S: 16 bits, flags
    // S: 16 bits, type
    // S: 64 bits, cookie
    // S: 32 bits, length of payload (unsigned)
    public static void WriteChunkHeader(IBufferWriter<byte> output, NbdReplyFlags flags, NbdReplyChunkType type, ulong cookie, uint payloadLength)
    {
        var span = output.GetSpan(20);
        BinaryPrimitives.WriteUInt32BigEndian(span, NbdMagic.StructuredReply);
        BinaryPrimitives.WriteUInt16BigEndian(span[4..], (ushort)flags);
        BinaryPrimitives.WriteUInt16BigEndian(span[6..], (ushort)type);
        BinaryPrimitives.WriteUInt64BigEndian(span[8..], cookie);
        BinaryPrimitives.WriteUInt32BigEndian(span[16..], payloadLength);
        output.Advance(20);
    }

    // NBD_REPLY_TYPE_OFFSET_DATA payload: 64 bits offset; the data (length - 8 bytes)
    public static void WriteOffsetData(IBufferWriter<byte> output, NbdReplyFlags flags, ulong cookie, ulong offset, ReadOnlySpan<byte> data)
    {
        WriteOffsetDataHeader(output, flags, cookie, offset, data.Length);
        output.Write(data);
    }

    /// <summary>An OFFSET_DATA chunk up to its data, for a writer that sends the data from where it lies.</summary>
    public static void WriteOffsetDataHeader(IBufferWriter<byte> output, NbdReplyFlags flags, ulong cookie, ulong offset, int dataLength)
    {
        WriteChunkHeader(output, flags, NbdReplyChunkType.OffsetData, cookie, checked((uint)(8 + dataLength)));
        var span = output.GetSpan(8);
        BinaryPrimitives.WriteUInt64BigEndian(span, offset);
        output.Advance(8);
    }

    // NBD_REPLY_TYPE_OFFSET_HOLE payload: 64 bits offset; 32 bits hole size (non-zero)
    public static void WriteOffsetHole(IBufferWriter<byte> output, NbdReplyFlags flags, ulong cookie, ulong offset, uint length)
    {
        WriteChunkHeader(output, flags, NbdReplyChunkType.OffsetHole, cookie, 12);
        var span = output.GetSpan(12);
        BinaryPrimitives.WriteUInt64BigEndian(span, offset);
        BinaryPrimitives.WriteUInt32BigEndian(span[8..], length);
        output.Advance(12);
    }

    // NBD_REPLY_TYPE_BLOCK_STATUS payload: 32 bits context id; per extent: 32 bits length, 32 bits status flags
    public static void WriteBlockStatus(IBufferWriter<byte> output, NbdReplyFlags flags, ulong cookie, uint contextId, ReadOnlySpan<NbdExtent> extents)
    {
        WriteChunkHeader(output, flags, NbdReplyChunkType.BlockStatus, cookie, checked((uint)(4 + (8 * extents.Length))));
        var span = output.GetSpan(4);
        BinaryPrimitives.WriteUInt32BigEndian(span, contextId);
        output.Advance(4);
        foreach (var extent in extents)
        {
            span = output.GetSpan(8);
            BinaryPrimitives.WriteUInt32BigEndian(span, extent.Length);
            BinaryPrimitives.WriteUInt32BigEndian(span[4..], extent.Flags);
            output.Advance(8);
        }
    }

    // NBD_REPLY_TYPE_ERROR payload: 32 bits error; 16 bits message length; the message (UTF-8)
    public static void WriteErrorChunk(IBufferWriter<byte> output, NbdReplyFlags flags, ulong cookie, uint error, string message)
    {
        byte[] text = Encoding.UTF8.GetBytes(message);
        // The length field is 16 bits and the spec keeps messages within 4096 bytes.
        int textLength = Math.Min(text.Length, NbdLimits.MaxString);
        WriteChunkHeader(output, flags, NbdReplyChunkType.Error, cookie, (uint)(6 + textLength));
        var span = output.GetSpan(6 + textLength);
        BinaryPrimitives.WriteUInt32BigEndian(span, error);
        BinaryPrimitives.WriteUInt16BigEndian(span[4..], (ushort)textLength);
        text.AsSpan(0, textLength).CopyTo(span[6..]);
        output.Advance(6 + textLength);
    }
}

/// <summary>One block status descriptor: a length and that context's flags for it.</summary>
public readonly record struct NbdExtent(uint Length, uint Flags);
