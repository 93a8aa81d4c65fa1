using System.Text;
using BlockDaemon.TestKit;

namespace BlockDaemon.Qcow2.Tests.Interop;

/// <summary>
/// The same seeded op list (writes aligned and not, overlapping, write-zeroes with and without
/// unmap, discards, flushes) applied by qemu-io to one copy of a starting image and by our driver
/// to another must leave images that `qemu-img compare` calls identical, that `qemu-img check`
/// calls clean, and that our driver reads back as QEMU does. On failure the op list is minimised
/// and the repro (starting image + qemu-io script) is kept under /tmp/blockd-qcow2-repros.
/// </summary>
public sealed class RandomWorkloadTests : IDisposable
{
    private readonly TempDirectory _dir = new("blockd-qcow2-workload-");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static TheoryData<string, bool> Configs
    {
        get
        {
            var data = new TheoryData<string, bool>();
            foreach (var config in WorkloadConfig.All)
            {
                data.Add(config.Name, false);
                data.Add(config.Name, true);
            }
            return data;
        }
    }

    public void Dispose() => _dir.Dispose();

    [Theory]
    [MemberData(nameof(Configs))]
    public Task Qemu_and_our_driver_leave_identical_images(string configName, bool backingChain) =>
        RunAsync(configName, backingChain, maxInFlight: 1);

    /// <summary>
    /// The same, but our driver gets up to 8 byte-disjoint requests at once (qemu-io still runs
    /// them in order): the end state must not depend on how they interleave.
    /// </summary>
    [Theory]
    [InlineData("cs512", false)]
    [InlineData("cs512", true)]
    [InlineData("cs4k-refcount2-snapshot", false)]
    [InlineData("cs64k-compressed", true)]
    [InlineData("cs32k-extended_l2", false)]
    [InlineData("cs32k-extended_l2", true)]
    public Task Concurrent_disjoint_requests_end_as_qemu_in_order(string configName, bool backingChain) =>
        RunAsync(configName, backingChain, maxInFlight: 8);

    private async Task RunAsync(string configName, bool backingChain, int maxInFlight)
    {
        ExternalTools.Require(ExternalTools.QemuImg, ExternalTools.QemuIo);
        var config = WorkloadConfig.Get(configName);
        string label = $"{config}{(backingChain ? ", on top of a backing chain of 3" : ", standalone")}" +
            (maxInFlight > 1 ? $", up to {maxInFlight} requests in flight in ours" : "");
        string start = await WorkloadImages.CreateStartAsync(_dir.Path, config, backingChain, Ct);
        var ops = config.Ops();
        Assert.True(ops.Count >= 200);

        var trial = new WorkloadTrial(start, config.ClusterSize, label, maxInFlight);
        var failure = await trial.RunAsync(ops, Ct);
        if (failure is null)
        {
            return;
        }

        async Task<TrialFailure?> Run(IReadOnlyList<WorkloadOp> candidate)
        {
            var f = await trial.RunAsync(candidate, Ct);
            trial.DeleteCopies();
            return f;
        }
        var (minimal, minimalFailure, prefix) = await WorkloadMinimizer.MinimizeAsync(
            ops, failure, Run, TimeSpan.FromSeconds(30), Ct);
        string kept = KeepRepro(backingChain, config, minimal, maxInFlight);

        var message = new StringBuilder();
        message.Append($"{failure.Kind}: {failure.Detail}\n");
        message.Append($"The first {prefix} ops (of {ops.Count}) already fail this way; a minimal list of {minimal.Count} op(s) does:\n");
        message.Append(WorkloadMinimizer.Format(minimal, WorkloadImages.Start)).Append('\n');
        message.Append($"Minimal failure: {minimalFailure.Detail}\n");
        message.Append($"Repro kept in {kept} (run repro.sh there).");
        Assert.Fail(message.ToString());
    }

    private string KeepRepro(bool chain, WorkloadConfig config, IReadOnlyList<WorkloadOp> minimal, int maxInFlight)
    {
        string target = Path.Combine(Path.GetTempPath(), "blockd-qcow2-repros",
            $"{config.Name}-{(chain ? "chain" : "standalone")}{(maxInFlight > 1 ? "-concurrent" : "")}");
        Directory.CreateDirectory(target);
        foreach (string name in new[] { WorkloadImages.Start, "base.qcow2", "mid.qcow2" })
        {
            if (File.Exists(_dir[name]))
            {
                File.Copy(_dir[name], Path.Combine(target, name), overwrite: true);
            }
        }
        string script = "#!/bin/sh\n# Applies the minimal op list with QEMU to a copy of the starting image;\n" +
            "# apply the same ops with blockd to another copy and `qemu-img compare` them.\nset -e\ncd \"$(dirname \"$0\")\"\n" +
            $"cp {WorkloadImages.Start} qemu.qcow2\n" + WorkloadMinimizer.Format(minimal, "qemu.qcow2") + "\n";
        File.WriteAllText(Path.Combine(target, "repro.sh"), script);
        return target;
    }
}
