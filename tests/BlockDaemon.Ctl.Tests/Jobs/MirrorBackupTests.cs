using BlockDaemon.Ctl.Tests.Daemons;
using BlockDaemon.TestKit;

namespace BlockDaemon.Ctl.Tests.Jobs;

/// <summary>blockctl mirror and backup --wait on real qcow2 images; the blockd cases skip until blockd has the commands.</summary>
public sealed class MirrorBackupTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData(DaemonKind.Qsd)]
    [InlineData(DaemonKind.Blockd)]
    public async Task Mirror_with_pivot_moves_the_export_to_a_standalone_copy(DaemonKind kind)
    {
        await using var daemon = await Daemon.StartRequiringAsync(kind, Ct, "blockdev-mirror", "job-complete");
        var chain = await ImageChain.CreateAsync(daemon, Ct);
        string target = daemon.Dir["target.qcow2"];
        await ExternalTools.RunAsync(ExternalTools.QemuImg, ["create", "-q", "-f", "qcow2", target, "64M"], Ct);
        await chain.AddQcow2Async("tgt", target, null, Ct);
        await chain.ExportAsync("top", Ct);

        var result = await Blockctl.RunAsync(daemon.Socket, "mirror", "top", "tgt", "--pivot", "--verbose");
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal("Successfully pivoted\n", result.Stdout);
        Assert.Contains("Block Copy: [", result.Stderr, StringComparison.Ordinal);
        Assert.Equal("tgt", await chain.ExportedNodeAsync(Ct));

        await chain.QuitAndVerifyAsync(target, [target], Ct);
    }

    [Theory]
    [InlineData(DaemonKind.Qsd)]
    [InlineData(DaemonKind.Blockd)]
    public async Task Shallow_drive_mirror_to_a_new_file_finishes_without_pivot(DaemonKind kind)
    {
        await using var daemon = await Daemon.StartRequiringAsync(kind, Ct, "drive-mirror", "block-job-cancel");
        var chain = await ImageChain.CreateAsync(daemon, Ct);
        await chain.ExportAsync("top", Ct);
        string copy = daemon.Dir["copy.qcow2"];

        // sync=top copies top's own data into a new image that takes top's backing file (mid).
        var result = await Blockctl.RunAsync(daemon.Socket, "mirror", "top", copy, "--file", "--format", "qcow2", "--shallow", "--finish");
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal("Successfully copied\n", result.Stdout);
        Assert.Equal("top", await chain.ExportedNodeAsync(Ct));

        await chain.QuitAndVerifyAsync(copy, [copy, chain.Mid, chain.Base], Ct);
    }

    [Theory]
    [InlineData(DaemonKind.Qsd)]
    [InlineData(DaemonKind.Blockd)]
    public async Task Full_then_incremental_backup_with_a_dirty_bitmap(DaemonKind kind)
    {
        await using var daemon = await Daemon.StartRequiringAsync(kind, Ct, "blockdev-backup", "block-dirty-bitmap-add");
        ExternalTools.Require("qemu-io");
        var chain = await ImageChain.CreateAsync(daemon, Ct);
        string nbd = await chain.ExportAsync("top", Ct);
        string full = daemon.Dir["full.qcow2"];
        string inc = daemon.Dir["inc.qcow2"];
        await ExternalTools.RunAsync(ExternalTools.QemuImg, ["create", "-q", "-f", "qcow2", full, "64M"], Ct);
        await ExternalTools.RunAsync(ExternalTools.QemuImg, ["create", "-q", "-f", "qcow2", "-b", full, "-F", "qcow2", inc], Ct);
        await chain.AddQcow2Async("full", full, null, Ct);
        // The incremental target is written, never read through: no need to open its backing file.
        await chain.AddQcow2Async("inc", inc, null, Ct, openBacking: false);

        // The bitmap through blockctl's generic path, then the full backup.
        var bitmap = await Blockctl.RunAsync(daemon.Socket, "block-dirty-bitmap-add", "node=top", "name=b0");
        Assert.True(bitmap.ExitCode == 0, bitmap.ToString());
        var fullBackup = await Blockctl.RunAsync(daemon.Socket, "backup", "top", "full", "--wait", "--job-id", "bk-full");
        Assert.True(fullBackup.ExitCode == 0, fullBackup.ToString());
        Assert.Equal("Backup complete\n", fullBackup.Stdout);

        // A guest write through the export dirties 1 MiB.
        await ExternalTools.RunAsync(ExternalTools.QemuIo, ["-f", "raw", "-c", "write -P 0x55 40M 1M", $"nbd+unix:///top?socket={nbd}"], Ct);

        var incremental = await Blockctl.RunAsync(daemon.Socket, "backup", "top", "inc", "--incremental", "b0", "--wait", "--verbose", "--job-id", "bk-inc");
        Assert.True(incremental.ExitCode == 0, incremental.ToString());
        Assert.Equal("Backup complete\n", incremental.Stdout);
        Assert.Contains("100 % (1.0 MiB of 1.0 MiB)", incremental.Stderr, StringComparison.Ordinal);

        await daemon.QuitAsync(Ct);
        Assert.Equal([inc, full], await ImageChain.BackingChainAsync(inc, Ct));
        await ImageChain.VerifyAsync(inc, [.. ImageChain.FullView[..4], "read -P 0 32M 8M", "read -P 0x55 40M 1M", "read -P 0 41M 23M"], Ct);
        // Only the dirty megabyte went into the incremental image.
        await ImageChain.VerifyAsync(inc, ["read -P 0x55 40M 1M"], Ct);
        var map = await ExternalTools.RunAsync(ExternalTools.QemuImg, ["map", "--output=json", inc], Ct);
        Assert.Contains("\"start\": 41943040, \"length\": 1048576, \"depth\": 0", map.Stdout, StringComparison.Ordinal);
    }
}
