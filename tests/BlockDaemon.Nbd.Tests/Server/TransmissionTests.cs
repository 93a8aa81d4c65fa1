using System.Buffers.Binary;
using BlockDaemon.Nbd.Protocol;

namespace BlockDaemon.Nbd.Tests.Server;

public class TransmissionTests
{
    [Fact]
    public async Task Simple_replies_carry_read_data_and_write_results()
    {
        await using var h = ServerHarness.Start();
        await h.ExportMemoryAsync("disk", 1 << 20);
        await using var c = await RawNbdClient.OpenAsync(h.SocketPath, "disk", structured: false);
        byte[] data = [.. Enumerable.Range(0, 1000).Select(i => (byte)i)];
        await c.SendRequestAsync(NbdCommand.Write, 1, 12345, (uint)data.Length, NbdCommandFlags.Fua, data);
        Assert.Equal((0U, 1UL), await c.ReadSimpleReplyAsync());
        await c.SendRequestAsync(NbdCommand.Read, 2, 12345, (uint)data.Length);
        Assert.Equal((0U, 2UL), await c.ReadSimpleReplyAsync());
        Assert.Equal(data, await c.ReadExactAsync(data.Length));
        Assert.Equal(data, h.TestGraph.Memory["disk"].Data.Slice(12345, 1000).ToArray());
    }

    [Fact]
    public async Task Structured_reads_send_zero_ranges_as_holes_unless_df_is_set()
    {
        await using var h = ServerHarness.Start();
        await h.ExportMemoryAsync("disk", 1 << 20);
        var memory = h.TestGraph.Memory["disk"];
        memory.Data.Slice(0, 4096).Fill(0xAB);
        memory.Data.Slice(8192, 4096).Fill(0xCD);
        await using var c = await RawNbdClient.OpenAsync(h.SocketPath, "disk");

        // The memory driver answers block status for the whole range asked, so ask in pieces.
        await c.SendRequestAsync(NbdCommand.Read, 1, 4096, 4096);
        var hole = await c.ReadChunkAsync();
        Assert.Equal((NbdReplyChunkType.OffsetHole, NbdReplyFlags.Done), (hole.Type, hole.Flags));
        Assert.Equal(4096UL, BinaryPrimitives.ReadUInt64BigEndian(hole.Payload));
        Assert.Equal(4096U, BinaryPrimitives.ReadUInt32BigEndian(hole.Payload.AsSpan(8)));

        await c.SendRequestAsync(NbdCommand.Read, 2, 0, 4096);
        var data = await c.ReadChunkAsync();
        Assert.Equal((NbdReplyChunkType.OffsetData, NbdReplyFlags.Done), (data.Type, data.Flags));
        Assert.Equal(0UL, BinaryPrimitives.ReadUInt64BigEndian(data.Payload));
        Assert.True(data.Payload.AsSpan(8).IndexOfAnyExcept((byte)0xAB) < 0);

        await c.SendRequestAsync(NbdCommand.Read, 3, 4096, 4096, NbdCommandFlags.DontFragment);
        var whole = await c.ReadChunkAsync();
        Assert.Equal((NbdReplyChunkType.OffsetData, NbdReplyFlags.Done), (whole.Type, whole.Flags));
        Assert.Equal(8 + 4096, whole.Payload.Length);
    }

    [Fact]
    public async Task Block_status_reports_holes_and_zeroes_and_req_one_gives_one_extent()
    {
        await using var h = ServerHarness.Start();
        await h.ExportMemoryAsync("disk", 1 << 20);
        h.TestGraph.Memory["disk"].Data[100] = 1;
        await using var c = await RawNbdClient.OpenAsync(h.SocketPath, "disk");
        await c.SendRequestAsync(NbdCommand.BlockStatus, 1, 0, 4096, NbdCommandFlags.ReqOne);
        var chunk = await c.ReadChunkAsync();
        Assert.Equal((NbdReplyChunkType.BlockStatus, NbdReplyFlags.Done), (chunk.Type, chunk.Flags));
        Assert.Equal([.. RawNbdClient.U32(0), .. RawNbdClient.U32(4096), .. RawNbdClient.U32(0)], chunk.Payload);

        await c.SendRequestAsync(NbdCommand.BlockStatus, 2, 4096, 8192);
        chunk = await c.ReadChunkAsync();
        Assert.Equal([.. RawNbdClient.U32(0), .. RawNbdClient.U32(8192), .. RawNbdClient.U32((uint)(NbdAllocationFlags.Hole | NbdAllocationFlags.Zero))], chunk.Payload);
    }

    [Fact]
    public async Task Trim_write_zeroes_and_cache_reach_the_node()
    {
        await using var h = ServerHarness.Start();
        await h.ExportMemoryAsync("disk", 1 << 20);
        var memory = h.TestGraph.Memory["disk"];
        memory.Data.Fill(0x11);
        await using var c = await RawNbdClient.OpenAsync(h.SocketPath, "disk");
        await c.SendRequestAsync(NbdCommand.WriteZeroes, 1, 0, 8192, NbdCommandFlags.NoHole | NbdCommandFlags.FastZero | NbdCommandFlags.Fua);
        Assert.Equal(NbdReplyChunkType.None, (await c.ReadChunkAsync()).Type);
        Assert.True(memory.Data[..8192].IndexOfAnyExcept((byte)0) < 0);
        Assert.Equal(0x11, memory.Data[8192]);
        await c.SendRequestAsync(NbdCommand.Cache, 2, 0, 1 << 20);
        Assert.Equal(NbdReplyChunkType.None, (await c.ReadChunkAsync()).Type);
        await c.SendRequestAsync(NbdCommand.Trim, 3, 65536, 65536, NbdCommandFlags.Fua);
        Assert.Equal(NbdReplyChunkType.None, (await c.ReadChunkAsync()).Type);
        Assert.Contains(memory.Calls, call => call.Op == TestKit.DriverOp.Discard);
    }

    [Fact]
    public async Task Many_requests_in_flight_each_get_exactly_one_whole_reply()
    {
        await using var h = ServerHarness.Start();
        await h.ExportMemoryAsync("disk", 4 << 20);
        await using var c = await RawNbdClient.OpenAsync(h.SocketPath, "disk");
        const int count = 64;
        for (int i = 0; i < count; i++)
        {
            byte[] data = new byte[65536];
            data.AsSpan().Fill((byte)(i + 1));
            await c.SendRequestAsync(NbdCommand.Write, (ulong)i, (ulong)i * 65536, (uint)data.Length, data: data);
        }
        var cookies = new HashSet<ulong>();
        for (int i = 0; i < count; i++)
        {
            var chunk = await c.ReadChunkAsync();
            Assert.Equal((NbdReplyChunkType.None, NbdReplyFlags.Done), (chunk.Type, chunk.Flags));
            Assert.True(cookies.Add(chunk.Cookie));
        }
        for (int i = 0; i < count; i++)
        {
            await c.SendRequestAsync(NbdCommand.Read, (ulong)(100 + i), (ulong)i * 65536, 65536, NbdCommandFlags.DontFragment);
        }
        for (int i = 0; i < count; i++)
        {
            var chunk = await c.ReadChunkAsync();
            int index = (int)chunk.Cookie - 100;
            Assert.Equal((ulong)index * 65536, BinaryPrimitives.ReadUInt64BigEndian(chunk.Payload));
            Assert.True(chunk.Payload.AsSpan(8).IndexOfAnyExcept((byte)(index + 1)) < 0);
        }
        await c.SendRequestAsync(NbdCommand.Disconnect, 0, 0, 0);
        Assert.True(await c.ServerClosedAsync());
    }
}
