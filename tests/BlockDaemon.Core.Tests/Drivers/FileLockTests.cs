using System.Diagnostics;
using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.TestKit;
using static BlockDaemon.Core.Graph.BlockPermissions;

namespace BlockDaemon.Core.Tests.Drivers;

/// <summary>QEMU-compatible image locks (byte 100+bit: "I use", 200+bit: "I do not share") between file nodes and processes.</summary>
public sealed class FileLockTests : IDisposable
{
    private const string QemuIo = "/usr/bin/qemu-io";
    private readonly TempDirectory _dir = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_writer_on_one_node_keeps_a_node_that_does_not_share_write_out()
    {
        string img = _dir.CreateFile("img", 1 << 20);
        await using var t = new TestGraph();
        await t.AddAsync(Opt.File(img, "a"), Ct);
        var b = await t.AddAsync(Opt.File(img, "b"), Ct);
        var writer = t.Graph.AttachUser("w", t.Graph.GetNode("a"), ConsistentRead | Write, All);

        var e = BlockAssert.Throws(() => t.Graph.AttachUser("r", b, ConsistentRead, ConsistentRead), BlockErrorKind.PermissionConflict);
        Assert.Contains("Failed to get shared \"write\" lock", e.Message, StringComparison.Ordinal);
        Assert.Empty(b.Parents);
        Assert.Equal(None, b.CumulativePerm);

        t.Graph.DetachUser(writer);
        t.Graph.AttachUser("r", b, ConsistentRead, ConsistentRead);
    }

    [Fact]
    public async Task A_user_needing_resize_fails_while_another_node_does_not_share_resize()
    {
        string img = _dir.CreateFile("img", 1 << 20);
        await using var t = new TestGraph();
        await t.AddAsync(Opt.File(img, "a"), Ct);
        await t.AddAsync(Opt.File(img, "b"), Ct);
        var keeper = t.Graph.AttachUser(null, t.Graph.GetNode("a"), None, All & ~Resize);

        var e = BlockAssert.Throws(() => t.Attach("b", ConsistentRead | Resize), BlockErrorKind.PermissionConflict);
        Assert.Contains("Failed to get \"resize\" lock", e.Message, StringComparison.Ordinal);

        // The failed attempt released the lock bytes it had taken ("b" uses consistent read):
        // "a" can still stop sharing consistent read.
        var exclusive = t.Graph.AttachUser(null, t.Graph.GetNode("a"), None, All & ~(ConsistentRead | Resize));
        t.Graph.DetachUser(exclusive);

        t.Graph.DetachUser(keeper);
        var resizer = t.Attach("b", ConsistentRead | Resize);
        await resizer.TruncateAsync(2 << 20, Ct);
        Assert.Equal(2 << 20, new FileInfo(img).Length);
    }

    [Fact]
    public async Task A_window_on_one_file_node_keeps_resize_from_another_node_on_the_same_file()
    {
        string img = _dir.CreateFile("img", 1 << 20);
        await using var t = new TestGraph();
        await t.AddAsync(Opt.Raw("r1", Opt.File(img, "a"), ("offset", 4096), ("size", 4096)), Ct);
        await t.AddAsync(Opt.File(img, "b"), Ct);
        // The window unshares resize on "a", which is invisible to "b" except through the lock bytes.
        t.Attach("r1", ConsistentRead);
        var e = BlockAssert.Throws(() => t.Attach("b", Resize), BlockErrorKind.PermissionConflict);
        Assert.Contains("Failed to get \"resize\" lock", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_force_share_reader_does_not_keep_writers_of_the_image_out()
    {
        string img = _dir.CreateFile("img", 1 << 20);
        await using var t = new TestGraph();
        var reader = await t.AddAsync(Opt.Raw("r0", Opt.File(img), ("read-only", true), ("force-share", true)), Ct);
        var file = reader.FindChild("file")!.Node;
        Assert.True(file.Common.ForceShare);
        t.Attach("r0", ConsistentRead, ConsistentRead | WriteUnchanged);
        Assert.Equal(All, reader.FindChild("file")!.Shared);

        await t.AddAsync(Opt.File(img, "w"), Ct);
        t.Attach("w", ConsistentRead | Write);
    }

    [Fact]
    public async Task Locking_off_takes_no_locks()
    {
        string img = _dir.CreateFile("img", 1 << 20);
        await using var t = new TestGraph();
        await t.AddAsync(Opt.File(img, "a", ("locking", "off")), Ct);
        await t.AddAsync(Opt.File(img, "b"), Ct);
        t.Attach("a", ConsistentRead | Write, ConsistentRead);
        t.Attach("b", ConsistentRead | Write, ConsistentRead);
    }

    [Fact]
    public async Task Qemu_io_cannot_write_while_a_node_holds_write()
    {
        if (!File.Exists(QemuIo))
        {
            Assert.Skip($"{QemuIo} is not installed");
        }
        string img = _dir.CreateFile("img", 1 << 20);
        await using var t = new TestGraph();
        var f0 = await t.AddAsync(Opt.File(img, "f0"), Ct);
        var user = t.Graph.AttachUser("drive0", f0, ConsistentRead | Write, ConsistentRead | WriteUnchanged);

        var (exit, output) = await RunQemuIoAsync(img);
        Assert.NotEqual(0, exit);
        Assert.Contains("lock", output, StringComparison.Ordinal);

        // Once the user is gone, so are the locks.
        t.Graph.DetachUser(user);
        (exit, output) = await RunQemuIoAsync(img);
        Assert.True(exit == 0, output);
        Assert.Contains("wrote 512/512 bytes at offset 0", output, StringComparison.Ordinal);
    }

    private static async Task<(int Exit, string Output)> RunQemuIoAsync(string img)
    {
        var start = new ProcessStartInfo(QemuIo)
        {
            ArgumentList = { "-f", "raw", "-c", "write 0 512", img },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync(Ct);
        var stderr = process.StandardError.ReadToEndAsync(Ct);
        await process.WaitForExitAsync(Ct);
        return (process.ExitCode, await stdout + await stderr);
    }
}
