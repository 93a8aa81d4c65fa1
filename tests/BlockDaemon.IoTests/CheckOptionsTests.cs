using BlockDaemon.IoTests.Cli;
using BlockDaemon.IoTests.Daemon;
using BlockDaemon.IoTests.Running;

namespace BlockDaemon.IoTests.Tests;

public sealed class CheckOptionsTests
{
    [Fact]
    public void Parses_the_documented_options()
    {
        var options = CheckOptions.Parse(["--daemon", "qsd", "--record", "-v", "--qsd", "/q", "001", "002-x"]);
        Assert.Equal(DaemonKind.Qsd, options.Daemon);
        Assert.True(options.Record);
        Assert.True(options.Verbose);
        Assert.Equal("/q", options.QsdPath);
        Assert.Equal(["001", "002-x"], options.Tests);
        Assert.Equal(DaemonKind.Blockd, CheckOptions.Parse([]).Daemon);
    }

    [Theory]
    [InlineData("--daemon", "qemu")]
    [InlineData("--bogus")]
    [InlineData("--blockd")]
    [InlineData("--record")]
    public void Rejects_bad_command_lines(params string[] args) =>
        Assert.Throws<ArgumentException>(() => CheckOptions.Parse(args));

    [Fact]
    public void Selects_tests_by_name_number_or_path_and_picks_blockd_overrides()
    {
        var directory = Directory.CreateTempSubdirectory("iotests-catalog-").FullName;
        try
        {
            foreach (var file in new[] { "001-a.qmp", "002-b.qmp", "002-b.blockd.out", "010-c.qmp" })
            {
                File.WriteAllText(Path.Combine(directory, file), string.Empty);
            }

            var all = TestCatalog.Discover(directory);
            Assert.Equal(["001-a", "002-b", "010-c"], all.Select(t => t.Name));
            Assert.Equal(["002-b", "001-a"], TestCatalog.Select(all, ["002", "tests/001-a.qmp"]).Select(t => t.Name));
            Assert.Throws<ArgumentException>(() => TestCatalog.Select(all, ["01"]));
            Assert.EndsWith("002-b.blockd.out", all[1].GoldenFor(DaemonKind.Blockd), StringComparison.Ordinal);
            Assert.EndsWith("002-b.out", all[1].GoldenFor(DaemonKind.Qsd), StringComparison.Ordinal);
            Assert.EndsWith("001-a.out", all[0].GoldenFor(DaemonKind.Blockd), StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
