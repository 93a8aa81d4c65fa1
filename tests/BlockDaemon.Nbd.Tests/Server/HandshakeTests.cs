using System.Buffers.Binary;
using System.Text;
using BlockDaemon.Nbd.Protocol;

namespace BlockDaemon.Nbd.Tests.Server;

/// <summary>The option phase, against what qsd 7.2 answers (shared/reference/nbd-probe-7.2.json).</summary>
public class HandshakeTests
{
    [Fact]
    public async Task Options_are_answered_as_qsd_answers_them()
    {
        await using var h = ServerHarness.Start();
        await h.ExportMemoryAsync("disk", 64 << 20, writable: true, description: "qsd test");
        await using var c = await RawNbdClient.NegotiateAsync(h.SocketPath);

        await c.SendOptionAsync(NbdOption.ExtendedHeaders, []);
        Assert.Equal(NbdOptionReplyType.ErrUnsup, (await c.ReadOptionReplyAsync()).Type);

        await c.SendOptionAsync(NbdOption.StructuredReply, []);
        Assert.Equal(NbdOptionReplyType.Ack, (await c.ReadOptionReplyAsync()).Type);
        await c.SendOptionAsync(NbdOption.StructuredReply, []);
        Assert.Equal(NbdOptionReplyType.ErrInvalid, (await c.ReadOptionReplyAsync()).Type);

        await c.SendOptionAsync(NbdOption.List, []);
        var server = await c.ReadOptionReplyAsync();
        Assert.Equal(NbdOptionReplyType.Server, server.Type);
        Assert.Equal([.. RawNbdClient.U32(4), .. "diskqsd test"u8.ToArray()], server.Data);
        Assert.Equal(NbdOptionReplyType.Ack, (await c.ReadOptionReplyAsync()).Type);

        await c.SendOptionAsync(NbdOption.ListMetaContext, RawNbdClient.MetaContextData("disk"));
        var context = await c.ReadOptionReplyAsync();
        Assert.Equal(NbdOptionReplyType.MetaContext, context.Type);
        Assert.Equal("base:allocation", Encoding.UTF8.GetString(context.Data.AsSpan(4)));
        Assert.Equal(NbdOptionReplyType.Ack, (await c.ReadOptionReplyAsync()).Type);

        // This export offers no qemu: contexts (no allocation-depth, no bitmaps), so the query lists nothing.
        await c.SendOptionAsync(NbdOption.ListMetaContext, RawNbdClient.MetaContextData("disk", "qemu:"));
        Assert.Equal(NbdOptionReplyType.Ack, (await c.ReadOptionReplyAsync()).Type);

        await c.SendOptionAsync(NbdOption.ListMetaContext, RawNbdClient.MetaContextData("nope"));
        Assert.Equal(NbdOptionReplyType.ErrUnknown, (await c.ReadOptionReplyAsync()).Type);

        await c.SendOptionAsync(NbdOption.StartTls, []);
        Assert.Equal(NbdOptionReplyType.ErrPolicy, (await c.ReadOptionReplyAsync()).Type);

        await c.SendOptionAsync(99, []);
        Assert.Equal(NbdOptionReplyType.ErrUnsup, (await c.ReadOptionReplyAsync()).Type);

        await c.SendOptionAsync(NbdOption.Info, RawNbdClient.InfoData("nope"));
        var unknown = await c.ReadOptionReplyAsync();
        Assert.Equal(NbdOptionReplyType.ErrUnknown, unknown.Type);
        Assert.Equal("Export 'nope' not present", unknown.Text);

        // INFO in qsd's order: NAME, DESCRIPTION, BLOCK_SIZE, EXPORT, ACK.
        await c.SendOptionAsync(NbdOption.Info, RawNbdClient.InfoData("disk", NbdInfoType.Name, NbdInfoType.BlockSize));
        var name = await c.ReadOptionReplyAsync();
        Assert.Equal([0x00, 0x01, .. "disk"u8.ToArray()], name.Data);
        var description = await c.ReadOptionReplyAsync();
        Assert.Equal([0x00, 0x02, .. "qsd test"u8.ToArray()], description.Data);
        var blockSize = await c.ReadOptionReplyAsync();
        Assert.Equal([0x00, 0x03, .. RawNbdClient.U32(1), .. RawNbdClient.U32(4096), .. RawNbdClient.U32(32 << 20)], blockSize.Data);
        var export = await c.ReadOptionReplyAsync();
        Assert.Equal(0, BinaryPrimitives.ReadUInt16BigEndian(export.Data));
        Assert.Equal(64UL << 20, BinaryPrimitives.ReadUInt64BigEndian(export.Data.AsSpan(2)));
        // The probe's flags: HAS_FLAGS SEND_FLUSH SEND_FUA SEND_TRIM SEND_WRITE_ZEROES SEND_DF CAN_MULTI_CONN SEND_CACHE SEND_FAST_ZERO.
        Assert.Equal(NbdTransmissionFlags.HasFlags | NbdTransmissionFlags.SendFlush | NbdTransmissionFlags.SendFua
            | NbdTransmissionFlags.SendTrim | NbdTransmissionFlags.SendWriteZeroes | NbdTransmissionFlags.SendDf
            | NbdTransmissionFlags.CanMultiConn | NbdTransmissionFlags.SendCache | NbdTransmissionFlags.SendFastZero,
            (NbdTransmissionFlags)BinaryPrimitives.ReadUInt16BigEndian(export.Data.AsSpan(10)));
        Assert.Equal(NbdOptionReplyType.Ack, (await c.ReadOptionReplyAsync()).Type);

        await c.SendOptionAsync(NbdOption.Abort, []);
        Assert.Equal(NbdOptionReplyType.Ack, (await c.ReadOptionReplyAsync()).Type);
        Assert.True(await c.ServerClosedAsync());
    }

    [Fact]
    public async Task Meta_contexts_need_structured_replies()
    {
        await using var h = ServerHarness.Start();
        await h.ExportMemoryAsync("disk", 1 << 20);
        await using var c = await RawNbdClient.NegotiateAsync(h.SocketPath);
        await c.SendOptionAsync(NbdOption.SetMetaContext, RawNbdClient.MetaContextData("disk", "base:allocation"));
        Assert.Equal(NbdOptionReplyType.ErrInvalid, (await c.ReadOptionReplyAsync()).Type);
    }

    [Fact]
    public async Task Export_name_option_enters_transmission_with_zero_padding_when_asked()
    {
        await using var h = ServerHarness.Start();
        await h.ExportMemoryAsync("disk", 1 << 20, writable: false);
        await using var c = await RawNbdClient.ConnectAsync(h.SocketPath);
        await c.ReadExactAsync(18);
        await c.SendAsync(RawNbdClient.U32(1)); // FIXED_NEWSTYLE only: the reply keeps its 124 zero bytes
        await c.SendOptionAsync(NbdOption.ExportName, "disk"u8.ToArray());
        var reply = await c.ReadExactAsync(134);
        Assert.Equal(1UL << 20, BinaryPrimitives.ReadUInt64BigEndian(reply));
        var flags = (NbdTransmissionFlags)BinaryPrimitives.ReadUInt16BigEndian(reply.AsSpan(8));
        Assert.True(flags.HasFlag(NbdTransmissionFlags.ReadOnly));
        Assert.False(flags.HasFlag(NbdTransmissionFlags.SendDf));
        await c.SendRequestAsync(NbdCommand.Flush, 5, 0, 0);
        Assert.Equal((0U, 5UL), await c.ReadSimpleReplyAsync());
    }
}
