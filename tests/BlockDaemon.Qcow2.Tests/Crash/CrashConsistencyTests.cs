using BlockDaemon.Qcow2.Tests.Interop;
using BlockDaemon.TestKit;

namespace BlockDaemon.Qcow2.Tests.Crash;

/// <summary>
/// Power-cut simulation: a seeded workload runs through our qcow2 driver over a disk that logs
/// every request; then, for many cut points, a possible on-disk state (everything up to the last
/// flush, plus a random subset of the later sector writes) must pass `qemu-img check` with at
/// worst leaks, and read back every write acknowledged before the last completed flush, through
/// QEMU and through our driver. BLOCKD_CRASH_POINTS=N multiplies the cut points per run.
/// </summary>
public sealed class CrashConsistencyTests : IDisposable
{
    private readonly TempDirectory _dir = new("blockd-crash-");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static TheoryData<string> Configs => new(CrashConfig.All.Select(c => c.Name));

    public void Dispose() => _dir.Dispose();

    [Theory]
    [MemberData(nameof(Configs))]
    public async Task Every_crash_point_leaves_a_consistent_image_with_flushed_data(string configName)
    {
        ExternalTools.Require(ExternalTools.QemuImg, ExternalTools.QemuIo);
        var named = CrashConfig.Get(configName);
        int seed = int.TryParse(Environment.GetEnvironmentVariable("BLOCKD_CRASH_SEED"), out int s) ? s : named.Seed;
        var config = named with { Seed = seed };
        string start = await CrashImages.CreateAsync(_dir.Path, config, Ct);
        byte[] initialView = await Qemu.ReadRawAsync(start, Ct);
        var ops = CrashWorkloadGenerator.Generate(seed, config.Size, config.ClusterSize, config.OpCount, config.MaxSize);
        var run = await RecordedRun.RecordAsync(start, config, ops, Ct);
        Assert.Contains(run.Log, e => e.Kind == DiskEventKind.Flush);

        var verifier = new CrashPointVerifier(_dir.Path);
        var points = CrashPoint.Choose(run, config.EffectiveCrashPoints, seed);
        foreach (var point in points)
        {
            var expectation = GuestExpectation.At(run, initialView, config.Size, config.ClusterSize, point.Index);
            var subset = point.Subset(run);
            Task<string?> Fails(CrashSubset candidate) =>
                verifier.VerifyAsync(CrashImageBuilder.Build(run, point.Index, candidate), expectation, Ct);
            if (await Fails(subset) is not { } failure)
            {
                continue;
            }
            var (minimal, minimalFailure) = await CrashSubsetMinimizer.MinimizeAsync(subset, failure, Fails, TimeSpan.FromSeconds(20));
            await Fails(minimal);
            string kept = KeepRepro(config, point, verifier.ImagePath);
            Assert.Fail(CrashFailureReport.Format(config, seed, run, point, subset, minimal, expectation, minimalFailure, kept));
        }
    }

    // Keeps the failing image (and its backing file) where it outlives the test directory.
    private string KeepRepro(CrashConfig config, CrashPoint point, string image)
    {
        string dir = Path.Combine(Path.GetTempPath(), "blockd-crash-repros", $"{config.Name}-cut{point.Index}");
        Directory.CreateDirectory(dir);
        File.Copy(image, Path.Combine(dir, "crash.qcow2"), overwrite: true);
        string backing = Path.Combine(_dir.Path, "base.qcow2");
        if (File.Exists(backing))
        {
            File.Copy(backing, Path.Combine(dir, "base.qcow2"), overwrite: true);
        }
        return Path.Combine(dir, "crash.qcow2");
    }
}
