using BlockDaemon.TestKit;
using static BlockDaemon.ImageTool.Tests.Tools;

namespace BlockDaemon.ImageTool.Tests;

/// <summary>
/// `blockimg map` prints what `qemu-img map` prints, human and JSON, for every image kind of
/// <see cref="AllocationImages"/>: data clusters over host-file holes stay data except in
/// metadata-preallocated images, where qemu asks the file below.
/// </summary>
public sealed class MapInteropTests : IDisposable
{
    private readonly TempDirectory _dir = new("bi-map-");

    public void Dispose() => _dir.Dispose();

    public static TheoryData<string> Kinds => new(AllocationImages.Kinds);

    [Theory]
    [MemberData(nameof(Kinds))]
    public async Task Map_matches_qemu_img_map(string kind)
    {
        ExternalTools.Require(ExternalTools.QemuImg, ExternalTools.QemuIo);
        var (image, format) = await AllocationImages.BuildAsync(_dir, kind, Ct);
        foreach (string[] options in new[] { Array.Empty<string>(), ["--output=json"] })
        {
            string[] args = ["map", "-f", format, .. options, image];
            Same(await QemuImgAsync(args), await BlockimgAsync(args), $"map {string.Join(' ', options)} on {kind}");
        }
    }
}
