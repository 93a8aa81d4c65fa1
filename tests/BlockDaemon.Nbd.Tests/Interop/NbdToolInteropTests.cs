using System.Text.Json;
using BlockDaemon.Nbd.Tests.Server;
using BlockDaemon.TestKit;

namespace BlockDaemon.Nbd.Tests.Interop;

/// <summary>
/// Real NBD clients (libnbd's nbdinfo and nbdcopy, qemu-img and qemu-io) against an in-process
/// server on a Unix socket. Each test skips when its tool is not installed.
/// </summary>
public class NbdToolInteropTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Nbdinfo_sees_the_flags_qsd_advertises()
    {
        ExternalTools.Require("nbdinfo");
        await using var h = ServerHarness.Start();
        await h.ExportMemoryAsync("disk", 64 << 20, writable: true, description: "qsd test");
        var result = await ExternalTools.RunAsync("nbdinfo", ["--json", h.Uri("disk")], Ct);
        using var json = JsonDocument.Parse(result.Stdout);
        var root = json.RootElement;
        Assert.Equal("newstyle-fixed", root.GetProperty("protocol").GetString());
        Assert.False(root.GetProperty("TLS").GetBoolean());
        Assert.True(root.GetProperty("structured").GetBoolean());
        var export = Assert.Single(root.GetProperty("exports").EnumerateArray());
        Assert.Equal("disk", export.GetProperty("export-name").GetString());
        Assert.Equal("qsd test", export.GetProperty("description").GetString());
        Assert.Equal(["base:allocation"], export.GetProperty("contexts").EnumerateArray().Select(e => e.GetString()));
        // Every flag as qsd 7.2's probe shows it (shared/reference/nbd-probe-7.2.json, "qsd nbdinfo").
        foreach (string flag in (string[])["can_cache", "can_df", "can_fast_zero", "can_flush", "can_fua", "can_multi_conn", "can_trim", "can_zero"])
        {
            Assert.True(export.GetProperty(flag).GetBoolean(), flag);
        }
        Assert.False(export.GetProperty("is_read_only").GetBoolean());
        Assert.False(export.GetProperty("is_rotational").GetBoolean());
        Assert.Equal(1, export.GetProperty("block_size_minimum").GetInt32());
        Assert.Equal(4096, export.GetProperty("block_size_preferred").GetInt32());
        Assert.Equal(33554432, export.GetProperty("block_size_maximum").GetInt32());
        Assert.Equal(67108864, export.GetProperty("export-size").GetInt64());
    }

    [Fact]
    public async Task Nbdinfo_sees_a_read_only_export_as_read_only()
    {
        ExternalTools.Require("nbdinfo");
        await using var h = ServerHarness.Start();
        await h.ExportMemoryAsync("ro", 1 << 20, writable: false);
        var result = await ExternalTools.RunAsync("nbdinfo", ["--json", h.Uri("ro")], Ct);
        using var json = JsonDocument.Parse(result.Stdout);
        var export = json.RootElement.GetProperty("exports")[0];
        Assert.True(export.GetProperty("is_read_only").GetBoolean());
        Assert.False(export.GetProperty("can_trim").GetBoolean());
        Assert.False(export.GetProperty("can_zero").GetBoolean());
    }

    [Fact]
    public async Task Nbdcopy_copies_out_and_in_with_the_data_intact()
    {
        ExternalTools.Require("nbdcopy");
        await using var h = ServerHarness.Start();
        await h.ExportMemoryAsync("disk", 16 << 20);
        var memory = h.TestGraph.Memory["disk"];
        byte[] pattern = new byte[16 << 20];
        Random.Shared.NextBytes(pattern.AsSpan(0, 4 << 20));
        Random.Shared.NextBytes(pattern.AsSpan(12 << 20, 1 << 20));
        pattern.CopyTo(memory.Data);

        string outFile = h.Dir["out.raw"];
        await ExternalTools.RunAsync("nbdcopy", [h.Uri("disk"), outFile], Ct);
        Assert.Equal(pattern, await File.ReadAllBytesAsync(outFile, Ct));

        byte[] incoming = new byte[16 << 20];
        Random.Shared.NextBytes(incoming.AsSpan(1 << 20, 6 << 20));
        string inFile = h.Dir.CreateFile("in.raw", incoming);
        await ExternalTools.RunAsync("nbdcopy", [inFile, h.Uri("disk")], Ct);
        await h.WaitForNoConnectionsAsync();
        Assert.True(incoming.AsSpan().SequenceEqual(memory.Data), "the export does not hold what nbdcopy wrote");
    }

    [Fact]
    public async Task Qemu_io_writes_and_reads_and_qemu_img_compare_agrees()
    {
        ExternalTools.Require("qemu-io", "qemu-img");
        await using var h = ServerHarness.Start();
        await h.ExportMemoryAsync("disk", 4 << 20);
        string uri = h.Uri("disk");
        await ExternalTools.RunAsync("qemu-io", ["-f", "raw", "-c", "write -P 0x5a 1M 64k", "-c", "write -z 2M 4k", "-c", "write -P 0x33 3M 100", "-c", "flush", uri], Ct);
        var read = await ExternalTools.RunAsync("qemu-io", ["-f", "raw", "-c", "read -P 0x5a 1M 64k", "-c", "read -P 0 2M 4k", "-c", "read -P 0x33 3M 100", uri], Ct);
        Assert.DoesNotContain("Pattern verification failed", read.Stdout, StringComparison.Ordinal);

        byte[] expected = new byte[4 << 20];
        expected.AsSpan(1 << 20, 64 << 10).Fill(0x5a);
        expected.AsSpan(3 << 20, 100).Fill(0x33);
        string reference = h.Dir.CreateFile("ref.raw", expected);
        await ExternalTools.RunAsync("qemu-img", ["compare", "-f", "raw", "-F", "raw", uri, reference], Ct);
        expected[(3 << 20) + 100] = 1;
        h.Dir.CreateFile("ref.raw", expected);
        await ExternalTools.RunAsync("qemu-img", ["compare", "-f", "raw", "-F", "raw", uri, reference], Ct, 1);
    }

    [Fact]
    public async Task Qemu_img_map_over_nbd_shows_the_holes_of_a_sparse_file()
    {
        ExternalTools.Require("qemu-img");
        await using var h = ServerHarness.Start();
        string image = h.Dir.CreateFile("sparse.raw", 4 << 20);
        await using (var stream = new FileStream(image, FileMode.Open, FileAccess.Write))
        {
            byte[] data = new byte[64 << 10];
            data.AsSpan().Fill(0x77);
            stream.Position = 1 << 20;
            await stream.WriteAsync(data, Ct);
        }
        var node = await h.TestGraph.AddAsync(Opt.File(image, "f0"), Ct);
        h.Export(node, "disk", writable: false);
        var result = await ExternalTools.RunAsync("qemu-img", ["map", "--output=json", "-f", "raw", h.Uri("disk")], Ct);
        using var json = JsonDocument.Parse(result.Stdout);
        var extents = json.RootElement.EnumerateArray()
            .Select(e => (Start: e.GetProperty("start").GetInt64(), Length: e.GetProperty("length").GetInt64(),
                Data: e.GetProperty("data").GetBoolean(), Zero: e.GetProperty("zero").GetBoolean()))
            .ToList();
        Assert.Equal(
        [
            (0L, 1L << 20, false, true),
            (1L << 20, 64L << 10, true, false),
            ((1L << 20) + (64 << 10), (3L << 20) - (64 << 10), false, true),
        ], extents);
    }
}
