using System.Buffers.Binary;
using BlockDaemon.Qcow2.Tests.Interop;
using BlockDaemon.TestKit;

namespace BlockDaemon.Qcow2.Tests.Crash;

/// <summary>
/// The crash harness must be able to fail: a post-crash image that lost flushed data, or whose
/// refcounts no longer cover what the tables reference, is rejected with a message that says so.
/// </summary>
public sealed class CrashHarnessSelfTests : IDisposable
{
    private readonly TempDirectory _dir = new("blockd-crash-self-");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Verifier_rejects_lost_flushed_data_and_dangling_references()
    {
        ExternalTools.Require(ExternalTools.QemuImg, ExternalTools.QemuIo);
        var config = CrashConfig.Get("cs4k-refcount1-lazy") with { OpCount = 30 };
        string start = await CrashImages.CreateAsync(_dir.Path, config, Ct);
        byte[] initialView = await Qemu.ReadRawAsync(start, Ct);
        var run = await RecordedRun.RecordAsync(start, config, config.Ops(), Ct);
        var verifier = new CrashPointVerifier(_dir.Path);
        int end = run.Log.Count;
        var atEnd = GuestExpectation.At(run, initialView, config.Size, config.ClusterSize, end);
        var everything = CrashSubset.Random(run.Log, run.LastFlushBefore(end) + 1, end, 1.0, 0);
        byte[] finalImage = CrashImageBuilder.Build(run, end, everything);
        Assert.Null(await verifier.VerifyAsync(finalImage, atEnd, Ct));

        // The file as it was before the workload, judged against the end: the flushed writes (and
        // the flushed resize, when the workload has one) are gone.
        string? lost = await verifier.VerifyAsync(run.InitialFile, atEnd, Ct);
        Assert.NotNull(lost);
        Assert.Matches("acknowledged before the last completed flush|disk size .*, expected one of", lost);

        // The final file with its first refcount block zeroed: every cluster is referenced but unrefcounted.
        byte[] broken = (byte[])finalImage.Clone();
        long table = (long)BinaryPrimitives.ReadUInt64BigEndian(broken.AsSpan(48));
        long block = (long)BinaryPrimitives.ReadUInt64BigEndian(broken.AsSpan((int)table));
        broken.AsSpan((int)block, config.ClusterSize).Clear();
        string? dangling = await verifier.VerifyAsync(broken, atEnd, Ct);
        Assert.NotNull(dangling);
        Assert.Contains("qemu-img check` reports corruption", dangling, StringComparison.Ordinal);
    }
}
