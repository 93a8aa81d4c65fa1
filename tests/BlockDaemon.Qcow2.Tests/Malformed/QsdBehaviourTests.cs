using BlockDaemon.TestKit;

namespace BlockDaemon.Qcow2.Tests.Malformed;

/// <summary>
/// Keeps the corpus honest: qsd 7.2 still does what each case records, the corpus is as large
/// and consistent as promised, and qsd-7.2-behaviour.md is rendered from it.
/// </summary>
public sealed class QsdBehaviourTests : IDisposable
{
    private const string WriteTableVariable = "BLOCKD_WRITE_MALFORMED_TABLE";

    private readonly TempDirectory _dir = new("blockd-malformed-qsd-");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static TheoryData<string> AllNames => new(MalformedImages.All.Select(c => c.Name));

    public void Dispose() => _dir.Dispose();

    [Theory]
    [MemberData(nameof(AllNames))]
    public async Task Qsd_7_2_does_with_the_image_what_the_corpus_records(string name)
    {
        if (!QsdRecorder.Available)
        {
            Assert.Skip("qemu-storage-daemon, qemu-io and qemu-img are needed to record qsd's behaviour");
        }
        string version = await QemuTools.CheckedAsync(QemuTools.Qsd, ["--version"], Ct);
        if (!version.Contains("version 7.2.", StringComparison.Ordinal))
        {
            Assert.Skip($"The corpus records qsd 7.2; this is {version.Split('\n')[0]}");
        }
        var image = MalformedImages.Get(name);
        string actual = await QsdRecorder.RecordAsync(image, _dir.Path, Ct).WaitAsync(TimeSpan.FromSeconds(30), Ct);
        Assert.Equal(image.Qsd, actual);
    }

    [Fact]
    public void The_corpus_has_at_least_45_images_with_distinct_names()
    {
        Assert.True(MalformedImages.All.Count >= 45, $"{MalformedImages.All.Count} images");
        Assert.Equal(MalformedImages.All.Count, MalformedImages.All.Select(c => c.Name).Distinct().Count());
    }

    [Fact]
    public void Every_message_copied_from_qsd_is_an_open_failure_of_qsd()
    {
        foreach (var image in MalformedImages.All.Where(c => c.OursRefuses == MalformedImage.SameAsQsd))
        {
            Assert.True(image.Qsd.StartsWith(MalformedImage.QsdOpenFails, StringComparison.Ordinal), $"{image.Name}: {image.Qsd}");
        }
    }

    [Fact]
    public void Every_departure_from_qsd_says_why()
    {
        foreach (var image in MalformedImages.All)
        {
            bool qsdOpens = !image.Qsd.StartsWith(MalformedImage.QsdOpenFails, StringComparison.Ordinal);
            bool departs = image.OursRefuses is not null && image.OursRefuses != MalformedImage.SameAsQsd
                || (qsdOpens && image.OursRefuses is not null) || image.OursWriteFails;
            Assert.True(!departs || image.Why is not null, $"{image.Name} departs from qsd without a reason");
        }
    }

    [Fact]
    public void The_behaviour_table_is_rendered_from_the_corpus()
    {
        string path = BehaviourTable.SourcePath();
        if (!Directory.Exists(Path.GetDirectoryName(path)))
        {
            Assert.Skip($"The source tree is not at {path}");
        }
        string expected = BehaviourTable.Render(MalformedImages.All);
        if (Environment.GetEnvironmentVariable(WriteTableVariable) == "1")
        {
            File.WriteAllText(path, expected);
        }
        Assert.True(File.Exists(path), $"{path} is missing; run with {WriteTableVariable}=1 to write it");
        Assert.Equal(expected, File.ReadAllText(path));
    }
}
