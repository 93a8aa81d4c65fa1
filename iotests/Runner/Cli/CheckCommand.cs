using System.Globalization;
using BlockDaemon.IoTests.Daemon;
using BlockDaemon.IoTests.Running;

namespace BlockDaemon.IoTests.Cli;

/// <summary>Runs the selected transcripts one after another and prints a line per test and a summary.</summary>
public sealed class CheckCommand
{
    private readonly CheckOptions _options;
    private readonly TextWriter _out;

    public CheckCommand(CheckOptions options, TextWriter output)
    {
        _options = options;
        _out = output;
    }

    /// <returns>The process exit code: 0 when nothing failed, 1 otherwise.</returns>
    public async Task<int> RunAsync(CancellationToken ct)
    {
        var layout = RepoLayout.Locate();
        var tests = TestCatalog.Select(TestCatalog.Discover(layout.TestsDirectory), _options.Tests);
        var settings = layout.DefaultSettings(_options.Daemon);
        settings = _options.Daemon switch
        {
            DaemonKind.Blockd when _options.BlockdPath is { } blockd => settings with { DaemonPath = blockd },
            DaemonKind.Qsd when _options.QsdPath is { } qsd => settings with { DaemonPath = qsd },
            _ => settings,
        };
        if (_options.Verbose)
        {
            await _out.WriteLineAsync($"daemon: {settings.Daemon.Name()} ({settings.DaemonPath})").ConfigureAwait(false);
        }

        int passed = 0, failed = 0, skipped = 0;
        foreach (var test in tests)
        {
            var outcome = _options.Record
                ? await RecordAsync(test, settings, ct).ConfigureAwait(false)
                : await TranscriptRunner.CheckAsync(test, settings, ct).ConfigureAwait(false);
            await ReportAsync(test, outcome).ConfigureAwait(false);
            switch (outcome.Status)
            {
                case TestStatus.Pass:
                    passed++;
                    break;
                case TestStatus.Fail:
                    failed++;
                    break;
                default:
                    skipped++;
                    break;
            }
        }

        var summary = string.Create(CultureInfo.InvariantCulture, $"{passed} passed, {failed} failed");
        if (skipped > 0)
        {
            summary += string.Create(CultureInfo.InvariantCulture, $", {skipped} skipped");
        }

        await _out.WriteLineAsync(summary).ConfigureAwait(false);
        return failed > 0 ? 1 : 0;
    }

    private static async Task<TestOutcome> RecordAsync(TestCase test, RunnerSettings settings, CancellationToken ct)
    {
        var outcome = await TranscriptRunner.RunAsync(test, settings, ct).ConfigureAwait(false);
        if (outcome.Status == TestStatus.Pass)
        {
            await File.WriteAllTextAsync(test.GoldenPath, outcome.Output, ct).ConfigureAwait(false);
        }

        return outcome;
    }

    private async Task ReportAsync(TestCase test, TestOutcome outcome)
    {
        var status = outcome.Status switch
        {
            TestStatus.Pass => _options.Record ? "recorded" : "pass",
            TestStatus.Fail => "FAIL",
            _ => $"skip ({outcome.Message})",
        };
        await _out.WriteLineAsync($"{test.Name} ... {status}").ConfigureAwait(false);
        if (outcome.Status == TestStatus.Fail)
        {
            await _out.WriteAsync(Indent(outcome.Message)).ConfigureAwait(false);
            if (_options.Record && outcome.Output.Length > 0)
            {
                await _out.WriteAsync(Indent("output so far (not recorded):\n" + outcome.Output)).ConfigureAwait(false);
            }
        }
        else if (_options.Verbose && outcome.Output.Length > 0)
        {
            await _out.WriteAsync(Indent(outcome.Output)).ConfigureAwait(false);
        }
    }

    // Indented so that no line of a diff or transcript can pass for the summary line.
    private static string Indent(string text) =>
        text.Length == 0 ? string.Empty : string.Concat(text.TrimEnd('\n').Split('\n').Select(line => "    " + line + "\n"));
}
