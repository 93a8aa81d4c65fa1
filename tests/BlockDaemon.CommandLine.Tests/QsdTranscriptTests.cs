using System.Text.Json.Nodes;
using Xunit;

namespace BlockDaemon.CommandLine.Tests;

/// <summary>
/// Golden transcripts recorded from qemu-storage-daemon 7.2: for each command line, what qsd
/// wrote (stdout then stderr) and its exit status. Our parser must produce the same bytes when
/// the host prints under qsd's name. Known deliberate differences are not recorded:
/// <c>--=x</c> (we also list <c>--config</c>) and <c>--chardev help</c> (we list only socket).
/// </summary>
public sealed class QsdTranscriptTests
{
    public static TheoryData<string, string[], int, string> Transcripts()
    {
        var data = new TheoryData<string, string[], int, string>();
        string path = Path.Combine(AppContext.BaseDirectory, "Transcripts", "qsd-7.2-parse-errors.jsonl");
        foreach (string line in File.ReadLines(path))
        {
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }

            JsonNode entry = JsonNode.Parse(line)!;
            string[] args = entry["args"]!.AsArray().Select(a => a!.GetValue<string>()).ToArray();
            data.Add(string.Join(' ', args), args, entry["exit"]!.GetValue<int>(), entry["output"]!.GetValue<string>());
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Transcripts))]
    public void Output_and_exit_status_match_qsd(string name, string[] args, int exit, string output)
    {
        Assert.NotNull(name);
        (string ours, int ourExit) = Simulate(args);
        Assert.Equal(output, ours);
        Assert.Equal(exit, ourExit);
    }

    [Fact]
    public void Transcript_file_is_substantial()
    {
        Assert.True(Transcripts().Count > 150);
    }

    /// <summary>What a host following the documented contract prints, with deferred errors.</summary>
    private static (string Output, int Exit) Simulate(string[] args)
    {
        var output = new System.Text.StringBuilder();
        try
        {
            DaemonCommandLine line = DaemonCommandLine.Parse(args, deferOptionErrors: true);
            Assert.Equal(CommandLineAction.Run, line.Action);
            foreach (DaemonOption option in line.Options)
            {
                foreach (CommandLineWarning warning in option.Warnings)
                {
                    output.Append(warning.Format(Qsd.Program));
                }

                switch (option)
                {
                    case InvalidOption invalid:
                        throw invalid.Error;
                    case PrintHelpOption help:
                        return (output.Append(help.Text).ToString(), help.ExitCode);
                }
            }

            Assert.Fail("The command line was accepted; qsd rejected it");
            return default;
        }
        catch (CommandLineException error)
        {
            return (output.Append(error.Format(Qsd.Program)).ToString(), 1);
        }
    }
}
