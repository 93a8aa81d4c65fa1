using BlockDaemon.Qcow2.Tests.Interop;
using BlockDaemon.TestKit;

namespace BlockDaemon.Qcow2.Tests.Crash;

/// <summary>
/// kill -9 of the daemon at many points of a block-stream and of an intermediate block-commit,
/// from the start to past the end: top must always read as the chain did before (a backing link
/// is rewritten only once the copied data and its mappings are durable), and qemu-img check finds
/// at worst leaks in top and base. qsd 7.2 fails the stream case right after completion (iotest
/// 062). base starts with only 4 MiB allocated, so that a commit allocates clusters in it.
/// </summary>
public sealed class ChainJobKillTests : IDisposable
{
    private readonly TempDirectory _dir = new("blockd-chain-job-kill-");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData("""{"execute": "block-stream", "arguments": {"job-id": "s", "device": "top", "base": "base.qcow2"}}""")]
    [InlineData("""{"execute": "block-commit", "arguments": {"job-id": "c", "device": "top", "top": "mid.qcow2"}}""")]
    public async Task Kill_9_at_any_point_of_the_job_loses_no_guest_data(string jobCommand)
    {
        ExternalTools.Require(ExternalTools.QemuImg, ExternalTools.QemuIo);
        int[] killAfterMs = [0, 5, 15, 30, 50, 80, 120, 180, 260, 400, 700];
        for (int round = 0; round < killAfterMs.Length; round++)
        {
            string dir = _dir["r" + round];
            Directory.CreateDirectory(dir);
            string baseImage = Path.Combine(dir, "base.qcow2");
            string mid = Path.Combine(dir, "mid.qcow2");
            string top = Path.Combine(dir, "top.qcow2");
            await Qemu.CreateAsync(baseImage, 16 << 20, null, Ct);
            await Qemu.IoAsync(baseImage, Ct, "write -q -P 1 0 4M");
            await Qemu.CreateAsync(mid, 16 << 20, null, Ct, backing: "base.qcow2");
            await Qemu.IoAsync(mid, Ct, "write -q -P 2 0 12M");
            await Qemu.CreateAsync(top, 16 << 20, null, Ct, backing: "mid.qcow2");
            await Qemu.IoAsync(top, Ct, "write -q -P 3 0 1M");
            var before = await Qemu.ReadRawAsync(top, Ct);

            using (var daemon = BlockdProcess.Start(Path.Combine(dir, "qmp.sock")))
            {
                await using var qmp = await QmpSocketClient.ConnectAsync(daemon.Socket, Ct);
                await qmp.ExecuteAsync(
                    "{\"execute\": \"blockdev-add\", \"arguments\": {\"driver\": \"qcow2\", \"node-name\": \"top\", \"file\": {\"driver\": \"file\", \"filename\": \"" + top + "\"}}}", Ct);
                await qmp.SendAsync(jobCommand, Ct);
                await Task.Delay(killAfterMs[round], Ct);
                await daemon.KillHardAsync(Ct);
            }

            foreach (string image in new[] { top, baseImage })
            {
                var check = await Qemu.CheckAsync(image, Ct);
                Assert.True(check.ExitCode is 0 or 3, $"Kill after {killAfterMs[round]} ms: qemu-img check of {Path.GetFileName(image)} reports more than leaks:\n{check}");
            }
            var after = await Qemu.ReadRawAsync(top, Ct);
            Assert.True(before.AsSpan().SequenceEqual(after), $"Kill after {killAfterMs[round]} ms: the guest view of top changed");
        }
    }
}
