using System.Buffers;
using BlockDaemon.Nbd.Protocol;

namespace BlockDaemon.Nbd.Tests.Protocol;

public class FrameParserTests
{
    private static readonly byte[] WriteRequest =
    [
        0x25, 0x60, 0x95, 0x13,                         // magic NBD_REQUEST_MAGIC
        0x00, 0x01,                                     // flags: FUA
        0x00, 0x01,                                     // type: NBD_CMD_WRITE
        0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, // cookie
        0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, // offset 4 GiB
        0x00, 0x00, 0x10, 0x00,                         // length 4096
        0xAA,                                           // first byte of the write data (not part of the header)
    ];

    [Fact]
    public void Request_header_is_parsed_field_by_field_and_the_data_is_left_unread()
    {
        var buffer = new ReadOnlySequence<byte>(WriteRequest);
        Assert.True(NbdRequest.TryRead(ref buffer, out var request));
        Assert.Equal(NbdCommandFlags.Fua, request.Flags);
        Assert.Equal(NbdCommand.Write, request.Command);
        Assert.Equal(0x0102030405060708UL, request.Cookie);
        Assert.Equal(4UL << 30, request.Offset);
        Assert.Equal(4096U, request.Length);
        Assert.Equal(1, buffer.Length);
        Assert.Equal(0xAA, buffer.FirstSpan[0]);
    }

    [Fact]
    public void Request_header_split_over_segments_needs_every_byte()
    {
        for (int cut = 0; cut < NbdRequest.Size; cut++)
        {
            var partial = new ReadOnlySequence<byte>(WriteRequest, 0, cut);
            Assert.False(NbdRequest.TryRead(ref partial, out _));
            Assert.Equal(cut, partial.Length);
        }
        var split = TwoSegments(WriteRequest.AsSpan(0, NbdRequest.Size), 13);
        Assert.True(NbdRequest.TryRead(ref split, out var request));
        Assert.Equal(4096U, request.Length);
        Assert.Equal(0, split.Length);
    }

    [Fact]
    public void Request_with_bad_magic_is_a_protocol_violation()
    {
        byte[] bad = (byte[])WriteRequest.Clone();
        bad[0] = 0x26;
        var buffer = new ReadOnlySequence<byte>(bad);
        var e = Assert.Throws<NbdProtocolException>(() => NbdRequest.TryRead(ref buffer, out _));
        Assert.Contains("0x26609513", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Option_header_is_parsed_and_checks_its_magic()
    {
        byte[] option =
        [
            0x49, 0x48, 0x41, 0x56, 0x45, 0x4F, 0x50, 0x54, // "IHAVEOPT"
            0x00, 0x00, 0x00, 0x07,                         // option: NBD_OPT_GO
            0x00, 0x00, 0x00, 0x0A,                         // length of option data: 10
        ];
        var buffer = new ReadOnlySequence<byte>(option);
        Assert.True(NbdOptionHeader.TryRead(ref buffer, out var header));
        Assert.Equal((uint)NbdOption.Go, header.Option);
        Assert.Equal(10U, header.Length);

        option[7] = (byte)'X';
        buffer = new ReadOnlySequence<byte>(option);
        Assert.Throws<NbdProtocolException>(() => NbdOptionHeader.TryRead(ref buffer, out _));
    }

    [Fact]
    public void Client_flags_are_four_bytes()
    {
        var buffer = new ReadOnlySequence<byte>([0x00, 0x00, 0x00, 0x03]); // FIXED_NEWSTYLE | NO_ZEROES
        Assert.True(NbdClientGreeting.TryRead(ref buffer, out var greeting));
        Assert.Equal(NbdClientFlags.FixedNewstyle | NbdClientFlags.NoZeroes, greeting.Flags);
        var shortBuffer = new ReadOnlySequence<byte>([0x00, 0x00, 0x00]);
        Assert.False(NbdClientGreeting.TryRead(ref shortBuffer, out _));
    }

    [Fact]
    public void Info_request_lists_name_and_information_types()
    {
        byte[] data =
        [
            0x00, 0x00, 0x00, 0x04,   // length of name: 4
            0x64, 0x69, 0x73, 0x6B,   // "disk"
            0x00, 0x02,               // two information requests
            0x00, 0x01,               // NBD_INFO_NAME
            0x00, 0x03,               // NBD_INFO_BLOCK_SIZE
        ];
        Assert.True(NbdInfoRequest.TryParse(data, out var request, out _));
        Assert.Equal("disk", request!.ExportName);
        Assert.Equal([NbdInfoType.Name, NbdInfoType.BlockSize], request.Requests);

        // The count claims three requests but there are two.
        data[9] = 3;
        Assert.False(NbdInfoRequest.TryParse(data, out _, out string error));
        Assert.Equal("Request data has incorrect length", error);

        // A name length running past the data.
        byte[] overlong = [0x00, 0x00, 0x00, 0x40, 0x64, 0x00, 0x00];
        Assert.False(NbdInfoRequest.TryParse(overlong, out _, out _));
        // A name longer than 4096 bytes.
        byte[] huge = [0x00, 0x00, 0x10, 0x01, 0x00, 0x00];
        Assert.False(NbdInfoRequest.TryParse(huge, out _, out error));
        Assert.StartsWith("Name too long", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Meta_context_request_lists_queries_and_refuses_a_count_it_cannot_hold()
    {
        byte[] data =
        [
            0x00, 0x00, 0x00, 0x01,   // length of export name: 1
            0x64,                     // "d"
            0x00, 0x00, 0x00, 0x02,   // two queries
            0x00, 0x00, 0x00, 0x05,   // query length 5
            0x62, 0x61, 0x73, 0x65, 0x3A, // "base:"
            0x00, 0x00, 0x00, 0x05,   // query length 5
            0x71, 0x65, 0x6D, 0x75, 0x3A, // "qemu:"
        ];
        Assert.True(NbdMetaContextRequest.TryParse(data, out var request, out _));
        Assert.Equal("d", request!.ExportName);
        Assert.Equal(["base:", "qemu:"], request.Queries);

        // A count of 2^32-1 queries in a few bytes must not allocate a list that size.
        byte[] hostile = [0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF];
        Assert.False(NbdMetaContextRequest.TryParse(hostile, out _, out _));
        // Trailing bytes after the last query.
        Assert.False(NbdMetaContextRequest.TryParse([.. data, 0x00], out _, out _));
    }

    private static ReadOnlySequence<byte> TwoSegments(ReadOnlySpan<byte> bytes, int cut)
    {
        var first = new Segment(bytes[..cut].ToArray(), 0);
        var second = first.Append(bytes[cut..].ToArray());
        return new ReadOnlySequence<byte>(first, 0, second, second.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(byte[] data, long runningIndex)
        {
            Memory = data;
            RunningIndex = runningIndex;
        }

        public Segment Append(byte[] data)
        {
            var next = new Segment(data, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
