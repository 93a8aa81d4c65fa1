using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;
using BlockDaemon.TestKit;
using static BlockDaemon.Core.Graph.BlockPermissions;

namespace BlockDaemon.Core.Tests.Drivers;

public sealed class FileDriverTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Writes_are_in_the_file_and_read_back_after_a_flush()
    {
        string img = _dir.CreateFile("img", 1 << 20);
        await using var t = new TestGraph();
        var f0 = await t.AddAsync(Opt.File(img, "f0"), Ct);
        var root = t.Attach("f0", ConsistentRead | Write);
        var data = BlockAssert.Pattern(5000);
        await root.WriteAsync(1234, data, ct: Ct);
        await root.FlushAsync(Ct);

        var back = new byte[5000];
        await root.ReadAsync(1234, back, Ct);
        Assert.Equal(data, back);
        Assert.Equal(data, File.ReadAllBytes(img).AsSpan(1234, 5000).ToArray());
        Assert.Equal(1 << 20, new FileInfo(img).Length);
        Assert.Equal(1, f0.Statistics.FlushOps);
        Assert.Equal(img, f0.Driver.DisplayName);
        Assert.Equal("file", f0.DriverName);
    }

    [Theory]
    [InlineData(0, 0)]
    [InlineData(1, 512)]
    [InlineData(1000, 1024)]
    [InlineData(65536, 65536)]
    public async Task The_size_is_rounded_up_to_512_bytes(int fileSize, int nodeSize)
    {
        string img = _dir.CreateFile("img", fileSize);
        await using var t = new TestGraph();
        var f0 = await t.AddAsync(Opt.File(img, "f0"), Ct);
        Assert.Equal(nodeSize, f0.Length);
    }

    [Fact]
    public async Task Reads_past_the_end_of_the_file_return_zeroes()
    {
        string img = _dir.CreateFile("img", Enumerable.Repeat((byte)0x77, 1000).ToArray());
        await using var t = new TestGraph();
        await t.AddAsync(Opt.File(img, "f0"), Ct);
        var root = t.Attach("f0", ConsistentRead);
        var buffer = Enumerable.Repeat((byte)0xff, 1024).ToArray();
        await root.ReadAsync(0, buffer, Ct);
        Assert.All(buffer[..1000], b => Assert.Equal(0x77, b));
        Assert.All(buffer[1000..], b => Assert.Equal(0, b));
    }

    [Fact]
    public async Task Truncate_grows_and_shrinks_the_file()
    {
        string img = _dir.CreateFile("img", 1 << 20);
        await using var t = new TestGraph();
        var f0 = await t.AddAsync(Opt.File(img, "f0"), Ct);
        var root = t.Attach("f0", ConsistentRead | Write | Resize);

        await root.TruncateAsync(2 << 20, Ct);
        Assert.Equal(2 << 20, new FileInfo(img).Length);
        Assert.Equal(2 << 20, f0.Length);
        await root.WriteAsync((2 << 20) - 1, new byte[] { 1 }, ct: Ct);

        await root.TruncateAsync(1000, Ct);
        Assert.Equal(1000, new FileInfo(img).Length);
        Assert.Equal(1024, f0.Length);

        await BlockAssert.ThrowsAsync(() => root.TruncateAsync(-1, Ct), BlockErrorKind.InvalidArgument, "Image size cannot be negative");
    }

    [Fact]
    public async Task Block_status_tells_holes_from_data_in_a_sparse_file()
    {
        string img = _dir.CreateFile("img", 1 << 20);
        await using (var stream = new FileStream(img, FileMode.Open, FileAccess.Write))
        {
            stream.Position = 65536;
            stream.Write(BlockAssert.Pattern(65536));
        }
        await using var t = new TestGraph();
        await t.AddAsync(Opt.File(img, "f0"), Ct);
        var root = t.Attach("f0", ConsistentRead);

        var f0 = t.Graph.GetNode("f0");
        // Holes and data both map onto the file itself, at the same offset (as QEMU's file-posix).
        Assert.Equal(new BlockStatus(65536, BlockStatusFlags.Zero | BlockStatusFlags.Allocated, 0, f0), await root.BlockStatusAsync(0, 1 << 20, Ct));
        Assert.Equal(new BlockStatus(65536, BlockStatusFlags.Data | BlockStatusFlags.Allocated, 65536, f0), await root.BlockStatusAsync(65536, (1 << 20) - 65536, Ct));
        Assert.Equal(new BlockStatus((1 << 20) - 131072, BlockStatusFlags.Zero | BlockStatusFlags.Allocated, 131072, f0), await root.BlockStatusAsync(131072, (1 << 20) - 131072, Ct));
        Assert.Equal(new BlockStatus(4096, BlockStatusFlags.Data | BlockStatusFlags.Allocated, 70000, f0), await root.BlockStatusAsync(70000, 4096, Ct));
    }

    [Fact]
    public async Task Write_zeroes_with_may_unmap_punches_a_hole()
    {
        string img = _dir.CreateFile("img", BlockAssert.Pattern(1 << 20));
        await using var t = new TestGraph();
        var f0 = await t.AddAsync(Opt.File(img, "f0", ("discard", "unmap")), Ct);
        var root = t.Attach("f0", ConsistentRead | Write);
        Assert.NotNull(f0.Driver.AllocatedBytes);
        long before = f0.Driver.AllocatedBytes.Value;

        await root.WriteZeroesAsync(65536, 524288, WriteFlags.MayUnmap, Ct);

        Assert.True(f0.Driver.AllocatedBytes <= before - 524288, $"allocated {f0.Driver.AllocatedBytes}, was {before}");
        Assert.Equal(new BlockStatus(524288, BlockStatusFlags.Zero | BlockStatusFlags.Allocated, 65536, f0), await root.BlockStatusAsync(65536, 1 << 19, Ct));
        var back = new byte[1 << 20];
        await root.ReadAsync(0, back, Ct);
        var expected = BlockAssert.Pattern(1 << 20);
        expected.AsSpan(65536, 524288).Clear();
        Assert.Equal(expected, back);
        Assert.Equal(1 << 20, new FileInfo(img).Length);
    }

    [Fact]
    public async Task Write_zeroes_from_a_format_node_without_discard_unmap_keeps_the_blocks_allocated()
    {
        string img = _dir.CreateFile("img", BlockAssert.Pattern(1 << 20));
        await using var t = new TestGraph();
        var f0 = await t.AddAsync(Opt.File(img, "f0"), Ct);
        await t.AddAsync(Opt.Raw("r0", "f0"), Ct);
        var root = t.Attach("r0", ConsistentRead | Write);
        long? before = f0.Driver.AllocatedBytes;

        await root.WriteZeroesAsync(0, 524288, WriteFlags.MayUnmap, Ct);

        Assert.Equal(before, f0.Driver.AllocatedBytes);
        var back = new byte[524288];
        await root.ReadAsync(0, back, Ct);
        Assert.Equal(-1, back.AsSpan().IndexOfAnyExcept((byte)0));
    }

    [Fact]
    public async Task A_small_inline_write_completes_on_the_callers_thread_and_lands_in_the_file()
    {
        string img = _dir.CreateFile("img", 1 << 20);
        await using var t = new TestGraph();
        await t.AddAsync(Opt.File(img, "f0"), Ct);
        var root = t.Attach("f0", ConsistentRead | Write);
        var data = BlockAssert.Pattern(4096, 7);

        var write = root.WriteAsync(8192, data, WriteFlags.Inline, Ct);
        Assert.True(write.IsCompletedSuccessfully, "an inline write of 4 KiB through the page cache was handed off");
        await write;
        Assert.Equal(data, File.ReadAllBytes(img).AsSpan(8192, 4096).ToArray());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Inline_writes_of_any_size_land_as_offloaded_ones_do(bool direct)
    {
        string img = _dir.CreateFile("img", BlockAssert.Pattern(1 << 20, 5));
        await using var t = new TestGraph();
        var options = direct ? Opt.File(img, "f0", ("cache", Opt.Dict(("direct", true)))) : Opt.File(img, "f0");
        await t.AddAsync(options, Ct);
        var root = t.Attach("f0", ConsistentRead | Write);
        var model = BlockAssert.Pattern(1 << 20, 5);
        var random = new Random(11);
        for (int i = 0; i < 40; i++)
        {
            // Sizes on both sides of the inline limit (64 KiB), unaligned ones for O_DIRECT's bounce path.
            var data = new byte[random.Next(1, 3) == 1 ? random.Next(1, 70000) : random.Next(60000, 200000)];
            int offset = random.Next(model.Length - data.Length);
            random.NextBytes(data);
            await root.WriteAsync(offset, data, i % 2 == 0 ? WriteFlags.Inline : WriteFlags.Inline | WriteFlags.Fua, Ct);
            data.CopyTo(model, offset);
        }
        var back = new byte[model.Length];
        await root.ReadAsync(0, back.AsMemory(), Ct);
        Assert.True(back.AsSpan().SequenceEqual(model));
        await root.FlushAsync(Ct);
        Assert.True(File.ReadAllBytes(img).AsSpan().SequenceEqual(model));
    }

    [Fact]
    public async Task Cache_direct_works_with_unaligned_user_requests()
    {
        string img = _dir.CreateFile("img", BlockAssert.Pattern(1 << 20, 5));
        await using var t = new TestGraph();
        var f0 = await t.AddAsync(Opt.File(img, "f0", ("cache", Opt.Dict(("direct", true)))), Ct);
        Assert.True(f0.Common.CacheDirect);
        Assert.True(f0.Driver.Limits.RequestAlignment >= 512, $"alignment {f0.Driver.Limits.RequestAlignment}");
        var root = t.Attach("f0", ConsistentRead | Write);
        var model = BlockAssert.Pattern(1 << 20, 5);
        var random = new Random(3);
        for (int i = 0; i < 50; i++)
        {
            int offset = random.Next(model.Length - 10000);
            var data = new byte[random.Next(1, 10000)];
            random.NextBytes(data);
            await root.WriteAsync(offset, data, ct: Ct);
            data.CopyTo(model, offset);
            var back = new byte[random.Next(1, 10000)];
            int at = random.Next(model.Length - back.Length);
            await root.ReadAsync(at, back.AsMemory(), Ct);
            Assert.True(back.AsSpan().SequenceEqual(model.AsSpan(at, back.Length)), $"read {i} at {at}");
        }
        await root.FlushAsync(Ct);
        Assert.True(File.ReadAllBytes(img).AsSpan().SequenceEqual(model));
    }

    [Fact]
    public async Task Missing_files_and_unusable_options_are_refused()
    {
        await using var t = new TestGraph();
        string small = _dir.CreateFile("small", 65536);
        await BlockAssert.ThrowsAsync(() => t.AddAsync(Opt.File(_dir.Path, "e1"), Ct), BlockErrorKind.IoError, $"Could not open '{_dir.Path}': Is a directory");
        await BlockAssert.ThrowsAsync(() => t.AddAsync(Opt.File(small, "e3", ("aio", "native")), Ct), BlockErrorKind.InvalidArgument,
            "aio=native was specified, but it requires cache.direct=on, which was not specified.");
        Assert.Empty(t.Graph.Nodes);
    }

    [Fact]
    public async Task An_empty_file_name_is_refused_in_qsd_words()
    {
        await using var t = new TestGraph();
        await BlockAssert.ThrowsAsync(() => t.AddAsync(Opt.File("", "e2"), Ct), BlockErrorKind.InvalidArgument,
            "The 'file' block driver requires a file name");
    }

    [Fact]
    public async Task Read_only_file_nodes_open_read_only()
    {
        string img = _dir.CreateFile("img", 65536);
        File.SetUnixFileMode(img, UnixFileMode.UserRead);
        await using var t = new TestGraph();
        var f0 = await t.AddAsync(Opt.File(img, "f0", ("read-only", true)), Ct);
        Assert.True(f0.ReadOnly);
        var f1 = await t.AddAsync(Opt.File(img, "f1", ("auto-read-only", true)), Ct);
        Assert.Equal(!Environment.IsPrivilegedProcess, f1.ReadOnly);
    }
}
