using BlockDaemon.IoTests.Daemon;
using BlockDaemon.IoTests.Output;
using BlockDaemon.IoTests.Transcript;

namespace BlockDaemon.IoTests.Running;

/// <summary>
/// Runs one transcript against one daemon and compares the output with its golden file. Used by
/// the iotests-runner CLI and directly by the xunit project.
/// </summary>
public static class TranscriptRunner
{
    /// <summary>Prefix of the line appended to the output when a step could not be carried out.</summary>
    public const string FailureMarker = "!!! ";

    /// <summary>Runs <paramref name="test"/> and returns its output without comparing it to anything.</summary>
    public static async Task<TestOutcome> RunAsync(TestCase test, RunnerSettings settings, CancellationToken ct)
    {
        IReadOnlyList<Step> steps;
        try
        {
            steps = TranscriptParser.Parse(await File.ReadAllTextAsync(test.StepsPath, ct).ConfigureAwait(false));
        }
        catch (TranscriptFormatException e)
        {
            return new TestOutcome(TestStatus.Fail, string.Empty, $"{test.StepsPath}: {e.Message}");
        }

        foreach (var require in steps.Where(s => s.Kind == StepKind.Require))
        {
            if (ToolLocator.Find(require.Text) is null)
            {
                return TestOutcome.Skipped($"{require.Text} not found");
            }
        }

        if (ToolLocator.Find(settings.DaemonPath) is null)
        {
            var hint = settings.Daemon == DaemonKind.Blockd ? "build the solution, or pass --blockd / set BLOCKD" : "install qemu-storage-daemon, or pass --qsd / set QSD";
            return new TestOutcome(TestStatus.Fail, string.Empty, $"{settings.Daemon.Name()} binary not found at {settings.DaemonPath} ({hint})");
        }

        var testDir = CreateTestDirectory();
        try
        {
            var session = new TranscriptSession(settings, testDir, test.Directory);
            await using (session.ConfigureAwait(false))
            {
                try
                {
                    await session.RunAsync(steps, ct).ConfigureAwait(false);
                    return new TestOutcome(TestStatus.Pass, session.Output, string.Empty);
                }
                catch (TranscriptFailureException e)
                {
                    var message = new OutputFilters(testDir, Path.Combine(testDir, "qmp.sock")).FilterText(e.Message);
                    return new TestOutcome(TestStatus.Fail, session.Output + FailureMarker + message + "\n", message);
                }
            }
        }
        finally
        {
            DeleteTestDirectory(testDir);
        }
    }

    /// <summary>Runs <paramref name="test"/> and compares its output with the golden file for the daemon.</summary>
    public static async Task<TestOutcome> CheckAsync(TestCase test, RunnerSettings settings, CancellationToken ct)
    {
        var outcome = await RunAsync(test, settings, ct).ConfigureAwait(false);
        if (outcome.Status == TestStatus.Skip || (outcome.Status == TestStatus.Fail && outcome.Output.Length == 0))
        {
            return outcome;
        }

        var goldenPath = test.GoldenFor(settings.Daemon);
        if (!File.Exists(goldenPath))
        {
            var missing = $"no golden file {Path.GetFileName(goldenPath)}; record it with: iotests/check --daemon qsd --record {test.Name}";
            return outcome with { Status = TestStatus.Fail, Message = outcome.Status == TestStatus.Fail ? outcome.Message + "\n" + missing : missing };
        }

        var expected = await File.ReadAllTextAsync(goldenPath, ct).ConfigureAwait(false);
        var diff = UnifiedDiff.Create(expected, outcome.Output, Path.GetFileName(goldenPath), $"{test.Name} ({settings.Daemon.Name()})");
        if (diff.Length == 0 && outcome.Status == TestStatus.Pass)
        {
            return outcome;
        }

        var message = outcome.Status == TestStatus.Fail ? outcome.Message + "\n" + diff : diff;
        return outcome with { Status = TestStatus.Fail, Message = message };
    }

    private static string CreateTestDirectory()
    {
        // A Unix socket path must fit in 108 bytes; a long TMPDIR falls back to /tmp.
        var root = Path.GetTempPath();
        if (root.Length > 60)
        {
            root = "/tmp";
        }

        var directory = Path.Combine(root, "iotests-" + Path.GetRandomFileName().Replace(".", string.Empty, StringComparison.Ordinal));
        Directory.CreateDirectory(directory);
        return directory;
    }

    private static void DeleteTestDirectory(string directory)
    {
        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (IOException)
        {
            // Leave it; a daemon that outlived its kill may still hold a file there.
        }
        catch (UnauthorizedAccessException)
        {
            // A test made something unremovable; nothing to do about it here.
        }
    }
}
