using System.Diagnostics;
using BlockDaemon.Nbd.Protocol;
using BlockDaemon.Nbd.Server;

namespace BlockDaemon.Nbd.Tests.Server;

/// <summary>Clients that break the rules: each gets an error reply or loses its own connection, never more.</summary>
public class HostileClientTests
{
    [Fact]
    public async Task Bad_option_magic_closes_the_connection()
    {
        await using var h = ServerHarness.Start();
        await using var c = await RawNbdClient.NegotiateAsync(h.SocketPath);
        await c.SendAsync([.. "IHAVEOPX"u8.ToArray(), .. RawNbdClient.U32(3), .. RawNbdClient.U32(0)]);
        Assert.True(await c.ServerClosedAsync());
        await h.WaitForNoConnectionsAsync();
    }

    [Fact]
    public async Task Unknown_client_flags_close_the_connection()
    {
        await using var h = ServerHarness.Start();
        await using var c = await RawNbdClient.ConnectAsync(h.SocketPath);
        await c.ReadExactAsync(18);
        await c.SendAsync(RawNbdClient.U32(0x80000001));
        Assert.True(await c.ServerClosedAsync());
    }

    [Fact]
    public async Task Huge_option_length_is_refused_without_reading_it()
    {
        await using var h = ServerHarness.Start();
        await using var c = await RawNbdClient.NegotiateAsync(h.SocketPath);
        // Claims 4 GiB - 1 of option data and sends none of it.
        await c.SendAsync([.. RawNbdClient.U64(NbdMagic.Option), .. RawNbdClient.U32((uint)NbdOption.Info), .. RawNbdClient.U32(uint.MaxValue)]);
        var reply = await c.ReadOptionReplyAsync();
        Assert.Equal(NbdOptionReplyType.ErrTooBig, reply.Type);
        Assert.True(await c.ServerClosedAsync());
    }

    [Fact]
    public async Task Unknown_export_name_closes_the_connection()
    {
        await using var h = ServerHarness.Start();
        await using var c = await RawNbdClient.NegotiateAsync(h.SocketPath);
        await c.SendOptionAsync(NbdOption.ExportName, "nope"u8.ToArray());
        Assert.True(await c.ServerClosedAsync());
    }

    [Fact]
    public async Task Malformed_info_request_gets_err_invalid_and_negotiation_goes_on()
    {
        await using var h = ServerHarness.Start();
        await h.ExportMemoryAsync("disk", 1 << 20);
        await using var c = await RawNbdClient.NegotiateAsync(h.SocketPath);
        await c.SendOptionAsync(NbdOption.Go, [.. RawNbdClient.U32(1000), .. "disk"u8.ToArray(), 0, 0]);
        Assert.Equal(NbdOptionReplyType.ErrInvalid, (await c.ReadOptionReplyAsync()).Type);
        await c.SendOptionAsync(NbdOption.List, []);
        Assert.Equal(NbdOptionReplyType.Server, (await c.ReadOptionReplyAsync()).Type);
    }

    [Fact]
    public async Task A_client_silent_after_the_greeting_is_dropped_at_the_handshake_limit()
    {
        await using var h = ServerHarness.Start(new NbdServerOptions { HandshakeTimeout = TimeSpan.FromMilliseconds(300) });
        await using var c = await RawNbdClient.ConnectAsync(h.SocketPath);
        await c.ReadExactAsync(18);
        Assert.True(await c.ServerClosedAsync());
        await h.WaitForNoConnectionsAsync();
    }

    [Fact]
    public async Task Stop_drops_clients_stuck_in_the_handshake_and_clients_not_reading_replies()
    {
        var h = ServerHarness.Start();
        try
        {
            await h.ExportMemoryAsync("disk", 32 << 20);
            await using var stuck = await RawNbdClient.ConnectAsync(h.SocketPath);
            await using var deaf = await RawNbdClient.OpenAsync(h.SocketPath, "disk");
            // 32 MiB reads that are never read back: the socket buffers fill and reply writes block.
            for (ulong i = 0; i < 8; i++)
            {
                await deaf.SendRequestAsync(NbdCommand.Read, i, 0, 32 << 20, NbdCommandFlags.DontFragment);
            }
            await Task.Delay(200, TestContext.Current.CancellationToken);
            Assert.Equal(2, h.Server.ConnectionCount);
            var watch = Stopwatch.StartNew();
            await h.Server.StopAsync();
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(3), $"stop took {watch.Elapsed}");
            Assert.Equal(0, h.Server.ConnectionCount);
            Assert.True(await stuck.ServerClosedAsync());
        }
        finally
        {
            await h.DisposeAsync();
        }
    }

    [Fact]
    public async Task Bad_request_magic_closes_the_connection()
    {
        await using var h = ServerHarness.Start();
        await h.ExportMemoryAsync("disk", 1 << 20);
        await using var c = await RawNbdClient.OpenAsync(h.SocketPath, "disk");
        await c.SendAsync(new byte[28]);
        Assert.True(await c.ServerClosedAsync());
    }

    [Theory]
    [InlineData(NbdCommand.Read, 1UL << 20, 1U, NbdErrno.EInval)]
    [InlineData(NbdCommand.Read, (1UL << 20) - 1, 2U, NbdErrno.EInval)]
    [InlineData(NbdCommand.Read, ulong.MaxValue, 1U, NbdErrno.EInval)]
    [InlineData(NbdCommand.Cache, (1UL << 20) + 1, 0U, NbdErrno.EInval)]
    [InlineData(NbdCommand.Trim, 0UL, (1U << 20) + 1, NbdErrno.EInval)]
    [InlineData(NbdCommand.WriteZeroes, 1UL << 20, 512U, NbdErrno.ENoSpc)]
    [InlineData(NbdCommand.BlockStatus, 2UL << 20, 1U, NbdErrno.EInval)]
    public async Task Requests_past_the_end_fail_and_the_connection_goes_on(NbdCommand command, ulong offset, uint length, uint errno)
    {
        await using var h = ServerHarness.Start();
        await h.ExportMemoryAsync("disk", 1 << 20);
        await using var c = await RawNbdClient.OpenAsync(h.SocketPath, "disk");
        await c.SendRequestAsync(command, 7, offset, length);
        Assert.Equal(errno, await c.ReadErrorChunkAsync(7));
        await c.SendRequestAsync(NbdCommand.Flush, 8, 0, 0);
        Assert.Equal(NbdReplyChunkType.None, (await c.ReadChunkAsync()).Type);
    }

    [Fact]
    public async Task A_write_past_the_end_has_its_data_consumed_and_gets_enospc()
    {
        await using var h = ServerHarness.Start();
        await h.ExportMemoryAsync("disk", 1 << 20);
        await using var c = await RawNbdClient.OpenAsync(h.SocketPath, "disk", structured: false);
        await c.SendRequestAsync(NbdCommand.Write, 1, (1 << 20) - 2, 4, data: [1, 2, 3, 4]);
        Assert.Equal((NbdErrno.ENoSpc, 1UL), await c.ReadSimpleReplyAsync());
        await c.SendRequestAsync(NbdCommand.Flush, 2, 0, 0);
        Assert.Equal((0U, 2UL), await c.ReadSimpleReplyAsync());
    }

    [Fact]
    public async Task Oversized_lengths_get_einval_and_an_oversized_write_closes_the_connection()
    {
        await using var h = ServerHarness.Start();
        await h.ExportMemoryAsync("disk", 1 << 20);
        await using var c = await RawNbdClient.OpenAsync(h.SocketPath, "disk");
        await c.SendRequestAsync(NbdCommand.Read, 1, 0, (32 << 20) + 1);
        Assert.Equal(NbdErrno.EInval, await c.ReadErrorChunkAsync(1));
        await c.SendRequestAsync(NbdCommand.Write, 2, 0, (32 << 20) + 1);
        Assert.Equal(NbdErrno.EInval, await c.ReadErrorChunkAsync(2));
        Assert.True(await c.ServerClosedAsync());
    }

    [Fact]
    public async Task Unknown_commands_and_flags_get_einval()
    {
        await using var h = ServerHarness.Start();
        await h.ExportMemoryAsync("disk", 1 << 20);
        await using var c = await RawNbdClient.OpenAsync(h.SocketPath, "disk");
        await c.SendRequestAsync((NbdCommand)42, 1, 0, 0);
        Assert.Equal(NbdErrno.EInval, await c.ReadErrorChunkAsync(1));
        await c.SendRequestAsync(NbdCommand.Resize, 2, 0, 0);
        Assert.Equal(NbdErrno.EInval, await c.ReadErrorChunkAsync(2));
        await c.SendRequestAsync(NbdCommand.Read, 3, 0, 512, NbdCommandFlags.ReqOne);
        Assert.Equal(NbdErrno.EInval, await c.ReadErrorChunkAsync(3));
        await c.SendRequestAsync(NbdCommand.Flush, 4, 0, 0, (NbdCommandFlags)0x8000);
        Assert.Equal(NbdErrno.EInval, await c.ReadErrorChunkAsync(4));
    }

    [Fact]
    public async Task Read_only_exports_refuse_writes_with_eperm()
    {
        await using var h = ServerHarness.Start();
        await h.ExportMemoryAsync("ro", 1 << 20, writable: false);
        await using var c = await RawNbdClient.OpenAsync(h.SocketPath, "ro");
        await c.SendRequestAsync(NbdCommand.Write, 1, 0, 4, data: [1, 2, 3, 4]);
        Assert.Equal(NbdErrno.EPerm, await c.ReadErrorChunkAsync(1));
        await c.SendRequestAsync(NbdCommand.Trim, 2, 0, 4096);
        Assert.Equal(NbdErrno.EPerm, await c.ReadErrorChunkAsync(2));
        await c.SendRequestAsync(NbdCommand.WriteZeroes, 3, 0, 4096);
        Assert.Equal(NbdErrno.EPerm, await c.ReadErrorChunkAsync(3));
        Assert.True(h.TestGraph.Memory["ro"].Data.IndexOfAnyExcept((byte)0) < 0);
    }

    [Fact]
    public async Task Block_status_without_a_negotiated_context_gets_einval()
    {
        await using var h = ServerHarness.Start();
        await h.ExportMemoryAsync("disk", 1 << 20);
        await using var c = await RawNbdClient.OpenAsync(h.SocketPath, "disk", structured: false);
        await c.SendRequestAsync(NbdCommand.BlockStatus, 1, 0, 4096);
        Assert.Equal((NbdErrno.EInval, 1UL), await c.ReadSimpleReplyAsync());
    }

    [Fact]
    public async Task A_client_vanishing_after_sending_a_write_loses_no_data()
    {
        await using var h = ServerHarness.Start();
        await h.ExportMemoryAsync("disk", 1 << 20);
        var c = await RawNbdClient.OpenAsync(h.SocketPath, "disk");
        byte[] data = new byte[64 << 10];
        Random.Shared.NextBytes(data);
        await c.SendRequestAsync(NbdCommand.Write, 1, 4096, (uint)data.Length, data: data);
        // And a second write whose data never fully arrives: it must not be applied.
        await c.SendRequestAsync(NbdCommand.Write, 2, 0, 4096, data: [0xFF, 0xFF]);
        c.Close();
        await h.WaitForNoConnectionsAsync();
        var memory = h.TestGraph.Memory["disk"];
        Assert.Equal(data, memory.Data.Slice(4096, data.Length).ToArray());
        Assert.True(memory.Data[..4096].IndexOfAnyExcept((byte)0) < 0);
        await c.DisposeAsync();
    }
}
