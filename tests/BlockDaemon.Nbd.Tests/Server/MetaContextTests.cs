using System.Buffers.Binary;
using System.Text;
using BlockDaemon.Nbd.Protocol;

namespace BlockDaemon.Nbd.Tests.Server;

/// <summary>qemu:allocation-depth and qemu:dirty-bitmap next to base:allocation: listing, selecting, and one chunk per context.</summary>
public class MetaContextTests
{
    [Fact]
    public async Task Allocation_depth_is_listed_selected_and_answered_after_base_allocation()
    {
        await using var h = ServerHarness.Start();
        var node = await h.TestGraph.AddAsync(TestKit.Opt.Dict(("driver", "memory"), ("node-name", "disk"), ("size", 1L << 20)), TestContext.Current.CancellationToken);
        h.Server.Exports.Add(BlockDaemon.Nbd.Server.NbdExport.Attach(h.TestGraph.Graph, node, "disk", allocationDepth: true));
        await using var c = await RawNbdClient.NegotiateAsync(h.SocketPath);
        await c.SendOptionAsync(NbdOption.StructuredReply, []);
        Assert.Equal(NbdOptionReplyType.Ack, (await c.ReadOptionReplyAsync()).Type);

        // LIST: a namespace selects what is under it; everything without queries.
        Assert.Equal([(1u, "qemu:allocation-depth")], await ContextsAsync(c, NbdOption.ListMetaContext, "qemu:"));
        Assert.Equal([(0u, "base:allocation"), (1u, "qemu:allocation-depth")], await ContextsAsync(c, NbdOption.ListMetaContext));
        Assert.Empty(await ContextsAsync(c, NbdOption.ListMetaContext, "qemu:dirty-bitmap:"));
        // SET needs exact names; the order of the answer is the export's, not the query's.
        Assert.Empty(await ContextsAsync(c, NbdOption.SetMetaContext, "qemu:"));
        Assert.Equal([(0u, "base:allocation"), (1u, "qemu:allocation-depth")],
            await ContextsAsync(c, NbdOption.SetMetaContext, "qemu:allocation-depth", "base:allocation", "base:allocation"));

        await c.SendOptionAsync(NbdOption.Go, RawNbdClient.InfoData("disk"));
        while ((await c.ReadOptionReplyAsync()).Type != NbdOptionReplyType.Ack)
        {
        }
        await c.SendRequestAsync(NbdCommand.BlockStatus, 7, 0, 1 << 20);
        var first = await c.ReadChunkAsync();
        var second = await c.ReadChunkAsync();
        Assert.Equal(NbdReplyChunkType.BlockStatus, first.Type);
        Assert.Equal(NbdReplyFlags.None, first.Flags);
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32BigEndian(first.Payload));
        Assert.Equal(NbdReplyFlags.Done, second.Flags);
        Assert.Equal(1u, BinaryPrimitives.ReadUInt32BigEndian(second.Payload));
        // A memory node has no backing file and allocates nothing of its own: depth 0 throughout.
        Assert.Equal(1u << 20, BinaryPrimitives.ReadUInt32BigEndian(second.Payload.AsSpan(4)));
    }

    [Fact]
    public async Task Dirty_bitmaps_follow_allocation_depth_with_ids_from_2_and_are_busy_while_exported()
    {
        await using var h = ServerHarness.Start();
        var node = await h.TestGraph.AddAsync(TestKit.Opt.Dict(("driver", "memory"), ("node-name", "disk"), ("size", 1L << 20)), TestContext.Current.CancellationToken);
        var plain = node.CreateDirtyBitmap("b", 65536);
        var colon = node.CreateDirtyBitmap("a:b", 65536);
        plain.Mark(65536, 65536);
        var export = BlockDaemon.Nbd.Server.NbdExport.Attach(h.TestGraph.Graph, node, "disk", allocationDepth: true, dirtyBitmaps: [("b", plain), ("a:b", colon)]);
        Assert.True(plain.Busy);
        Assert.True(colon.Busy);
        h.Server.Exports.Add(export);
        await using (var c = await RawNbdClient.NegotiateAsync(h.SocketPath))
        {
            await c.SendOptionAsync(NbdOption.StructuredReply, []);
            Assert.Equal(NbdOptionReplyType.Ack, (await c.ReadOptionReplyAsync()).Type);

            Assert.Equal([(0u, "base:allocation"), (1u, "qemu:allocation-depth"), (2u, "qemu:dirty-bitmap:b"), (3u, "qemu:dirty-bitmap:a:b")],
                await ContextsAsync(c, NbdOption.ListMetaContext));
            Assert.Equal([(1u, "qemu:allocation-depth"), (2u, "qemu:dirty-bitmap:b"), (3u, "qemu:dirty-bitmap:a:b")],
                await ContextsAsync(c, NbdOption.ListMetaContext, "qemu:"));
            Assert.Equal([(2u, "qemu:dirty-bitmap:b"), (3u, "qemu:dirty-bitmap:a:b")],
                await ContextsAsync(c, NbdOption.ListMetaContext, "qemu:dirty-bitmap:"));
            // qemu only knows its own namespaces as wildcards, not a prefix of a bitmap's name.
            Assert.Empty(await ContextsAsync(c, NbdOption.ListMetaContext, "qemu:dirty-bitmap:a:"));
            Assert.Empty(await ContextsAsync(c, NbdOption.SetMetaContext, "qemu:dirty-bitmap:"));
            Assert.Equal([(2u, "qemu:dirty-bitmap:b")], await ContextsAsync(c, NbdOption.SetMetaContext, "qemu:dirty-bitmap:b", "qemu:dirty-bitmap:nosuch"));

            await c.SendOptionAsync(NbdOption.Go, RawNbdClient.InfoData("disk"));
            while ((await c.ReadOptionReplyAsync()).Type != NbdOptionReplyType.Ack)
            {
            }
            await c.SendRequestAsync(NbdCommand.BlockStatus, 7, 0, 1 << 20);
            var chunk = await c.ReadChunkAsync();
            Assert.Equal(NbdReplyFlags.Done, chunk.Flags);
            Assert.Equal(2u, BinaryPrimitives.ReadUInt32BigEndian(chunk.Payload));
            uint[] words = [.. Enumerable.Range(0, (chunk.Payload.Length - 4) / 4).Select(i => BinaryPrimitives.ReadUInt32BigEndian(chunk.Payload.AsSpan(4 + 4 * i)))];
            Assert.Equal([65536u, 0u, 65536u, 1u, (1u << 20) - 131072u, 0u], words);
        }
        await h.WaitForNoConnectionsAsync();
        h.Server.Exports.Remove("disk");
        export.Detach(h.TestGraph.Graph);
        Assert.False(plain.Busy);
        Assert.False(colon.Busy);
    }

    private static async Task<List<(uint Id, string Name)>> ContextsAsync(RawNbdClient c, NbdOption option, params string[] queries)
    {
        await c.SendOptionAsync(option, RawNbdClient.MetaContextData("disk", queries));
        var contexts = new List<(uint, string)>();
        while (true)
        {
            var reply = await c.ReadOptionReplyAsync();
            if (reply.Type == NbdOptionReplyType.Ack)
            {
                return contexts;
            }
            Assert.Equal(NbdOptionReplyType.MetaContext, reply.Type);
            contexts.Add((BinaryPrimitives.ReadUInt32BigEndian(reply.Data), Encoding.UTF8.GetString(reply.Data.AsSpan(4))));
        }
    }
}
