using System.Buffers;
using BlockDaemon.Core.Errors;
using BlockDaemon.Nbd.Protocol;

namespace BlockDaemon.Nbd.Tests.Protocol;

public class FrameWriterTests
{
    [Fact]
    public void Greeting_is_nbdmagic_ihaveopt_and_flags()
    {
        var output = new ArrayBufferWriter<byte>();
        NbdFrameWriter.WriteGreeting(output, NbdHandshakeFlags.FixedNewstyle | NbdHandshakeFlags.NoZeroes);
        Assert.Equal(
        [
            0x4E, 0x42, 0x44, 0x4D, 0x41, 0x47, 0x49, 0x43, // "NBDMAGIC"
            0x49, 0x48, 0x41, 0x56, 0x45, 0x4F, 0x50, 0x54, // "IHAVEOPT"
            0x00, 0x03,                                     // FIXED_NEWSTYLE | NO_ZEROES
        ], output.WrittenSpan.ToArray());
    }

    [Fact]
    public void Info_block_size_reply()
    {
        var output = new ArrayBufferWriter<byte>();
        NbdFrameWriter.WriteInfoBlockSize(output, (uint)NbdOption.Go, 1, 4096, 32 << 20);
        Assert.Equal(
        [
            0x00, 0x03, 0xE8, 0x89, 0x04, 0x55, 0x65, 0xA9, // option reply magic
            0x00, 0x00, 0x00, 0x07,                         // option: GO
            0x00, 0x00, 0x00, 0x03,                         // reply type: NBD_REP_INFO
            0x00, 0x00, 0x00, 0x0E,                         // length 14
            0x00, 0x03,                                     // NBD_INFO_BLOCK_SIZE
            0x00, 0x00, 0x00, 0x01,                         // minimum 1
            0x00, 0x00, 0x10, 0x00,                         // preferred 4096
            0x02, 0x00, 0x00, 0x00,                         // maximum 32 MiB
        ], output.WrittenSpan.ToArray());
    }

    [Fact]
    public void Export_name_reply_pads_with_124_zeroes_unless_the_client_asked_not_to()
    {
        var output = new ArrayBufferWriter<byte>();
        NbdFrameWriter.WriteExportNameReply(output, 1 << 20, NbdTransmissionFlags.HasFlags | NbdTransmissionFlags.ReadOnly, noZeroes: false);
        Assert.Equal(134, output.WrittenCount);
        Assert.Equal(
        [
            0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, // size 1 MiB
            0x00, 0x03,                                     // HAS_FLAGS | READ_ONLY
        ], output.WrittenSpan[..10].ToArray());
        Assert.True(output.WrittenSpan[10..].IndexOfAnyExcept((byte)0) < 0);

        output.Clear();
        NbdFrameWriter.WriteExportNameReply(output, 1 << 20, NbdTransmissionFlags.HasFlags, noZeroes: true);
        Assert.Equal(10, output.WrittenCount);
    }

    [Fact]
    public void Simple_reply_and_structured_chunks()
    {
        var output = new ArrayBufferWriter<byte>();
        NbdFrameWriter.WriteSimpleReply(output, NbdErrno.EPerm, 0x1122334455667788);
        Assert.Equal(
        [
            0x67, 0x44, 0x66, 0x98,                         // simple reply magic
            0x00, 0x00, 0x00, 0x01,                         // error EPERM
            0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, // cookie
        ], output.WrittenSpan.ToArray());

        output.Clear();
        NbdFrameWriter.WriteOffsetHole(output, NbdReplyFlags.Done, 9, 4096, 512);
        Assert.Equal(
        [
            0x66, 0x8E, 0x33, 0xEF,                         // structured reply magic
            0x00, 0x01,                                     // flags: DONE
            0x00, 0x02,                                     // type: OFFSET_HOLE
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x09, // cookie
            0x00, 0x00, 0x00, 0x0C,                         // payload length 12
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, // offset 4096
            0x00, 0x00, 0x02, 0x00,                         // hole size 512
        ], output.WrittenSpan.ToArray());

        output.Clear();
        NbdFrameWriter.WriteBlockStatus(output, NbdReplyFlags.Done, 9, 0, [new NbdExtent(4096, 3), new NbdExtent(512, 0)]);
        Assert.Equal(
        [
            0x66, 0x8E, 0x33, 0xEF, 0x00, 0x01,             // magic, DONE
            0x00, 0x05,                                     // type: BLOCK_STATUS
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x09, // cookie
            0x00, 0x00, 0x00, 0x14,                         // payload length 4 + 2 * 8
            0x00, 0x00, 0x00, 0x00,                         // context id 0
            0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x03, // 4096 bytes HOLE|ZERO
            0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, // 512 bytes data
        ], output.WrittenSpan.ToArray());

        output.Clear();
        NbdFrameWriter.WriteErrorChunk(output, NbdReplyFlags.Done, 9, NbdErrno.EInval, "No");
        Assert.Equal(
        [
            0x66, 0x8E, 0x33, 0xEF, 0x00, 0x01,             // magic, DONE
            0x80, 0x01,                                     // type: ERROR
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x09, // cookie
            0x00, 0x00, 0x00, 0x08,                         // payload length 6 + 2
            0x00, 0x00, 0x00, 0x16,                         // EINVAL
            0x00, 0x02, 0x4E, 0x6F,                         // message "No"
        ], output.WrittenSpan.ToArray());
    }

    [Theory]
    [InlineData(BlockErrorKind.InvalidArgument, 0, NbdErrno.EInval)]
    [InlineData(BlockErrorKind.OutOfRange, 0, NbdErrno.EInval)]
    [InlineData(BlockErrorKind.ReadOnly, 0, NbdErrno.EPerm)]
    [InlineData(BlockErrorKind.NotSupported, 0, NbdErrno.ENotSup)]
    [InlineData(BlockErrorKind.NoSpace, 0, NbdErrno.ENoSpc)]
    [InlineData(BlockErrorKind.Corrupt, 0, NbdErrno.EIo)]
    [InlineData(BlockErrorKind.IoError, 0, NbdErrno.EIo)]
    [InlineData(BlockErrorKind.IoError, 122, NbdErrno.ENoSpc)]
    [InlineData(BlockErrorKind.IoError, 30, NbdErrno.EPerm)]
    [InlineData(BlockErrorKind.IoError, 61, NbdErrno.EInval)]
    public void Block_errors_map_to_nbd_errnos(BlockErrorKind kind, int hostErrno, uint expected) =>
        Assert.Equal(expected, NbdErrors.ToErrno(new BlockException(kind, "x") { Errno = hostErrno }));
}
