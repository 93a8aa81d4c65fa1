using BlockDaemon.TestKit;

namespace BlockDaemon.Qcow2.Tests.Interop;

/// <summary>
/// An image passed back and forth: our driver writes it from empty, qemu-io modifies it, our
/// driver reads and writes it again, and at every step it matches a reference copy that QEMU
/// alone wrote with the same ops, and `qemu-img check` finds it clean.
/// </summary>
public sealed class RoundTripTests : IDisposable
{
    private const int OpsPerLeg = 120;

    private readonly TempDirectory _dir = new("blockd-qcow2-roundtrip-");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData("cs512", false)]
    [InlineData("cs4k-refcount2-snapshot", false)]
    [InlineData("cs32k-extended_l2", false)]
    [InlineData("cs4k-compat0.10", false)]
    [InlineData("cs64k-compressed", true)]
    public async Task Our_writes_qemu_writes_and_our_writes_again_match_qemu_alone(string configName, bool backingChain)
    {
        ExternalTools.Require(ExternalTools.QemuImg, ExternalTools.QemuIo);
        var config = WorkloadConfig.Get(configName);
        string label = $"round trip {config}{(backingChain ? " on a backing chain" : "")}";
        string start = await WorkloadImages.CreateStartAsync(_dir.Path, config, backingChain, Ct, prefill: false);
        string ours = _dir["ours.qcow2"];
        string reference = _dir["reference.qcow2"];
        File.Copy(start, ours);
        File.Copy(start, reference);
        await RunLegsAsync(ours, reference, config, label);
    }

    /// <summary>
    /// The same legs on an image with an external data file (each image has its own). With
    /// data_file_raw=on the data file must also hold the guest disk as is.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task External_data_file_round_trip_matches_qemu_alone(bool dataFileRaw)
    {
        ExternalTools.Require(ExternalTools.QemuImg, ExternalTools.QemuIo);
        var config = new WorkloadConfig("data-file", 7, 4096, 8 << 20, "cluster_size=4096");
        string label = $"round trip, external data file, data_file_raw={(dataFileRaw ? "on" : "off")}";
        string ours = _dir["ours.qcow2"];
        string reference = _dir["reference.qcow2"];
        foreach (string img in new[] { ours, reference })
        {
            await Qemu.CreateAsync(img, config.Size,
                $"{config.Options},data_file={img}.data,data_file_raw={(dataFileRaw ? "on" : "off")}", Ct);
        }
        await RunLegsAsync(ours, reference, config, label);
        if (dataFileRaw)
        {
            byte[] expected = await Qemu.ReadRawAsync(reference, Ct);
            byte[] dataFile = new byte[config.Size];
            byte[] onDisk = await File.ReadAllBytesAsync(ours + ".data", Ct);
            onDisk.AsSpan(0, Math.Min(onDisk.Length, dataFile.Length)).CopyTo(dataFile);
            ImageAssert.SameContent(expected, dataFile, $"{label}: our data file (raw) vs the guest disk", config.ClusterSize);
        }
    }

    private static async Task RunLegsAsync(string ours, string reference, WorkloadConfig config, string label)
    {
        var legs = Enumerable.Range(0, 3)
            .Select(leg => WorkloadGenerator.Generate(config.Seed * 100 + leg, config.Size, config.ClusterSize, OpsPerLeg, config.ExtendedL2))
            .ToArray();

        // Leg 1: our driver writes the empty image.
        await RunOursAsync(ours, legs[0], $"{label}, leg 1 (ours)", config);
        await Qemu.IoAsync(reference, legs[0].Select(o => o.ToQemuIo()), Ct);
        await AssertSameAsync(reference, ours, $"{label}, after leg 1 (our writes)", config, legs[0]);
        if (config.Snapshot)
        {
            await Qemu.SnapshotAsync(ours, "after-leg-1", Ct);
            await Qemu.SnapshotAsync(reference, "after-leg-1", Ct);
        }

        // Leg 2: qemu-io modifies our image (and the reference the same way).
        await Qemu.IoAsync(ours, legs[1].Select(o => o.ToQemuIo()), Ct);
        await Qemu.IoAsync(reference, legs[1].Select(o => o.ToQemuIo()), Ct);
        await AssertSameAsync(reference, ours, $"{label}, after leg 2 (qemu-io on our image)", config, legs[1]);

        // Leg 3: our driver again, on top of what QEMU allocated.
        await RunOursAsync(ours, legs[2], $"{label}, leg 3 (ours)", config);
        await Qemu.IoAsync(reference, legs[2].Select(o => o.ToQemuIo()), Ct);
        await AssertSameAsync(reference, ours, $"{label}, after leg 3 (ours again)", config, legs[2]);
    }

    private static async Task RunOursAsync(string img, IReadOnlyList<WorkloadOp> ops, string label, WorkloadConfig config)
    {
        await using var image = await OurImage.OpenAsync(img, Ct);
        byte[] before = await image.ReadAllAsync(Ct);
        Assert.Equal(config.Size, before.LongLength);
        try
        {
            await image.ApplyAsync(ops, Ct);
        }
        catch (WorkloadFailedException e)
        {
            Assert.Fail($"{label}: {e.Message}\n{e.InnerException}");
        }
    }

    /// <summary>QEMU sees both the same, check is clean, and our driver reads ours as QEMU does.</summary>
    private static async Task AssertSameAsync(string reference, string ours, string label, WorkloadConfig config, IReadOnlyList<WorkloadOp> leg)
    {
        byte[] expected = await Qemu.ReadRawAsync(reference, Ct);
        ImageAssert.SameContent(expected, await Qemu.ReadRawAsync(ours, Ct), $"{label}: QEMU reading our image", config.ClusterSize,
            offset => WorkloadTrial.ExplainOffset(leg, offset));
        HeaderBits.AssertClean(ours, label);
        await Qemu.AssertCleanAsync(ours, label, Ct);
        await using var image = await OurImage.OpenAsync(ours, Ct, readOnly: true);
        ImageAssert.SameContent(expected, await image.ReadAllAsync(Ct, chunkRotation: 7), $"{label}: our driver reading our image",
            config.ClusterSize, offset => WorkloadTrial.ExplainOffset(leg, offset));
    }
}
