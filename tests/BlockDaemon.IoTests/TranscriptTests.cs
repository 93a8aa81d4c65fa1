using BlockDaemon.IoTests.Daemon;
using BlockDaemon.IoTests.Running;

namespace BlockDaemon.IoTests.Tests;

/// <summary>
/// Every iotests transcript as one test case per daemon. qsd cases are skipped when
/// qemu-storage-daemon is not installed; blockd cases fail when the blockd binary is missing,
/// because the solution build produces it.
/// </summary>
public sealed class TranscriptTests
{
    private static readonly RepoLayout Layout = RepoLayout.Locate();

    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (var test in TestCatalog.Discover(Layout.TestsDirectory))
        {
            foreach (var daemon in new[] { DaemonKind.Blockd, DaemonKind.Qsd })
            {
                data.Add(test.Name, daemon.Name());
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Transcript_matches_golden(string test, string daemon)
    {
        Assert.True(DaemonKindNames.TryParse(daemon, out var kind), $"unknown daemon {daemon}");
        if (kind == DaemonKind.Qsd && RepoLayout.DefaultQsdPath() is null)
        {
            Assert.Skip("qemu-storage-daemon is not installed");
        }

        var testCase = Assert.Single(TestCatalog.Select(TestCatalog.Discover(Layout.TestsDirectory), [test]));
        var outcome = await TranscriptRunner.CheckAsync(testCase, Layout.DefaultSettings(kind), TestContext.Current.CancellationToken);
        if (outcome.Status == TestStatus.Skip)
        {
            Assert.Skip(outcome.Message);
        }

        Assert.True(outcome.Status == TestStatus.Pass, $"{test} on {daemon}:\n{outcome.Message}");
    }

    [Fact]
    public void There_are_transcripts_with_goldens()
    {
        var tests = TestCatalog.Discover(Layout.TestsDirectory);
        Assert.True(tests.Count >= 16, $"only {tests.Count} transcripts");
        Assert.All(tests, t => Assert.True(File.Exists(t.GoldenPath), $"{t.Name} has no golden .out"));
    }
}
