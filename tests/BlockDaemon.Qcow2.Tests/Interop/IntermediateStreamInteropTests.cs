using BlockDaemon.Qcow2.Tests.Crash;
using BlockDaemon.TestKit;

namespace BlockDaemon.Qcow2.Tests.Interop;

/// <summary>
/// An intermediate block-stream run by blockd on a chain qemu-img made (base &lt;- mid1 &lt;- mid2
/// &lt;- top, mid2 streamed down to base) while a reader reads the overlay through an NBD export:
/// the reads, which go through the stream's copy-on-read filter on top's backing link, see the
/// chain's data, and afterwards every image passes qemu-img check, top reads as it did before the
/// job (qemu-img compare against a copy taken before) and its chain is top, mid2, base.
/// </summary>
public sealed class IntermediateStreamInteropTests : IDisposable
{
    private readonly TempDirectory _dir = new("blockd-intermediate-stream-");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task The_chain_after_an_intermediate_stream_is_valid_and_reads_as_before()
    {
        ExternalTools.Require(ExternalTools.QemuImg, ExternalTools.QemuIo);
        string baseImage = _dir["base.qcow2"], mid1 = _dir["mid1.qcow2"], mid2 = _dir["mid2.qcow2"], top = _dir["top.qcow2"];
        await Qemu.CreateAsync(baseImage, 16 << 20, null, Ct);
        await Qemu.IoAsync(baseImage, Ct, "write -q -P 1 0 16M");
        await Qemu.CreateAsync(mid1, 16 << 20, null, Ct, backing: "base.qcow2");
        await Qemu.IoAsync(mid1, Ct, "write -q -P 2 4M 8M");
        await Qemu.CreateAsync(mid2, 16 << 20, null, Ct, backing: "mid1.qcow2");
        await Qemu.IoAsync(mid2, Ct, "write -q -P 3 6M 1M");
        await Qemu.CreateAsync(top, 16 << 20, null, Ct, backing: "mid2.qcow2");
        await Qemu.IoAsync(top, Ct, "write -q -P 4 0 1M");
        string before = _dir["before.qcow2"];
        await Qemu.ConvertAsync(["-O", "qcow2", top, before], Ct);

        using (var daemon = BlockdProcess.Start(_dir["qmp.sock"]))
        {
            await using var qmp = await QmpSocketClient.ConnectAsync(daemon.Socket, Ct);
            await qmp.ExecuteAsync(Add("base", baseImage, null, readOnly: true), Ct);
            await qmp.ExecuteAsync(Add("mid1", mid1, "base", readOnly: true), Ct);
            await qmp.ExecuteAsync(Add("mid2", mid2, "mid1", readOnly: true), Ct);
            await qmp.ExecuteAsync(Add("top", top, "mid2", readOnly: false), Ct);
            await qmp.ExecuteAsync("{\"execute\": \"nbd-server-start\", \"arguments\": {\"addr\": {\"type\": \"unix\", \"data\": {\"path\": \"" + _dir["nbd.sock"] + "\"}}}}", Ct);
            await qmp.ExecuteAsync("""{"execute": "block-export-add", "arguments": {"type": "nbd", "id": "e", "node-name": "top"}}""", Ct);
            // Slow enough that the reader below runs while the filter is in place.
            await qmp.ExecuteAsync("""{"execute": "block-stream", "arguments": {"job-id": "s", "device": "mid2", "base-node": "base", "speed": 4194304}}""", Ct);

            var read = await ExternalTools.RunAsync(ExternalTools.QemuIo,
                ["-r", "-f", "raw", "-c", "read -P 4 0 1M", "-c", "read -P 2 4M 2M", "-c", "read -P 3 6M 1M", "-c", "read -P 2 7M 5M", "-c", "read -P 1 12M 4M",
                 $"nbd+unix:///top?socket={_dir["nbd.sock"]}"], Ct);
            Assert.DoesNotContain("verification failed", read.Stdout, StringComparison.Ordinal);
            Assert.Equal(5, read.Stdout.Split('\n').Count(l => l.StartsWith("read ", StringComparison.Ordinal)));

            // On a slow machine the job may have finished while the reader ran.
            var speedUp = await qmp.TryExecuteAsync("""{"execute": "block-job-set-speed", "arguments": {"device": "s", "speed": 0}}""", Ct);
            Assert.True(speedUp.ContainsKey("return") || speedUp["error"]?["class"]?.GetValue<string>() == "DeviceNotActive", speedUp.ToJsonString());
            while ((await qmp.ExecuteAsync("""{"execute": "query-jobs"}""", Ct))["return"]!.AsArray().Count > 0)
            {
                await Task.Delay(50, Ct);
            }
            await qmp.ExecuteAsync("""{"execute": "block-export-del", "arguments": {"id": "e"}}""", Ct);
            foreach (string node in new[] { "top", "mid2", "mid1", "base" })
            {
                await qmp.ExecuteAsync("{\"execute\": \"blockdev-del\", \"arguments\": {\"node-name\": \"" + node + "\"}}", Ct);
            }
        }

        foreach (string image in new[] { top, mid2, mid1, baseImage })
        {
            await Qemu.AssertCleanAsync(image, "after the intermediate stream", Ct);
        }
        var (identical, compare) = await Qemu.CompareAsync(top, before, Ct);
        Assert.True(identical, compare.ToString());
        var chain = await ExternalTools.RunAsync(ExternalTools.QemuImg, ["info", "--backing-chain", top], Ct);
        var images = chain.Stdout.Split('\n').Where(l => l.StartsWith("image: ", StringComparison.Ordinal)).ToList();
        Assert.Equal(3, images.Count);
        Assert.EndsWith("mid2.qcow2", images[1], StringComparison.Ordinal);
        Assert.EndsWith("base.qcow2", images[2], StringComparison.Ordinal);
        // mid1 dropped out of the chain untouched: it still reads as it did.
        var mid1Read = await ExternalTools.RunAsync(ExternalTools.QemuIo, ["-r", "-f", "qcow2", "-c", "read -P 2 4M 8M", "-c", "read -P 1 0 4M", mid1], Ct);
        Assert.DoesNotContain("verification failed", mid1Read.Stdout, StringComparison.Ordinal);
        Assert.Equal(2, mid1Read.Stdout.Split('\n').Count(l => l.StartsWith("read ", StringComparison.Ordinal)));
    }

    private static string Add(string name, string path, string? backing, bool readOnly) =>
        "{\"execute\": \"blockdev-add\", \"arguments\": {\"driver\": \"qcow2\", \"node-name\": \"" + name + "\", \"read-only\": " + (readOnly ? "true" : "false")
        + (backing is null ? "" : ", \"backing\": \"" + backing + "\"")
        + ", \"file\": {\"driver\": \"file\", \"filename\": \"" + path + "\"}}}";
}
