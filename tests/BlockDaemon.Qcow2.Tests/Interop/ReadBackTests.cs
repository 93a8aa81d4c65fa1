using BlockDaemon.TestKit;

namespace BlockDaemon.Qcow2.Tests.Interop;

/// <summary>
/// Images written by QEMU read back through our driver byte for byte as `qemu-img convert -O raw`
/// sees them, and our block status never contradicts `qemu-img map`.
/// </summary>
public sealed class ReadBackTests : IDisposable
{
    private readonly TempDirectory _dir = new("blockd-qcow2-interop-");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static TheoryData<string> Scenarios => new(ReadBackScenarios.All.Select(s => s.Name));

    public void Dispose() => _dir.Dispose();

    [Theory]
    [MemberData(nameof(Scenarios))]
    public async Task Image_written_by_qemu_reads_the_same_through_our_driver(string scenario)
    {
        ExternalTools.Require(ExternalTools.QemuImg, ExternalTools.QemuIo);
        var s = ReadBackScenarios.Get(scenario);
        string img = await s.Build(_dir.Path, Ct);
        byte[] expected = await Qemu.ReadRawAsync(img, Ct);
        var map = await Qemu.MapAsync(img, Ct);

        await using (var ours = await OurImage.OpenAsync(img, Ct, readOnly: s.ReadOnly))
        {
            Assert.Equal(expected.LongLength, ours.Length);
            // Two passes with different chunk phases, so every chunk boundary lands somewhere new.
            for (int rotation = 0; rotation < 2; rotation++)
            {
                byte[] actual = await ours.ReadAllAsync(Ct, chunkRotation: rotation * 5);
                ImageAssert.SameContent(expected, actual, $"{scenario} (read pass {rotation})", s.ClusterSize,
                    offset => $"qemu-img map around it: {string.Join("; ", map.Where(e => e.End > offset - s.ClusterSize && e.Start <= offset + s.ClusterSize))}\n");
            }
            ImageAssert.StatusAgrees(await ours.StatusMapAsync(Ct), map, expected, scenario);
        }

        if (s.CheckAfterClose)
        {
            // Opening read-write and closing must leave a consistent image with the same content.
            HeaderBits.AssertClean(img, scenario);
            await Qemu.AssertCleanAsync(img, $"{scenario}, after our driver opened and closed it", Ct);
            Assert.True((await Qemu.ReadRawAsync(img, Ct)).AsSpan().SequenceEqual(expected),
                $"{scenario}: the content QEMU sees changed after our driver opened and closed the image");
        }
    }
}
