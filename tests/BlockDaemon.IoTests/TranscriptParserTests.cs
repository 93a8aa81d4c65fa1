using BlockDaemon.IoTests.Transcript;

namespace BlockDaemon.IoTests.Tests;

public sealed class TranscriptParserTests
{
    [Fact]
    public void Every_step_kind_is_recognised_and_comments_and_blank_lines_dropped()
    {
        var steps = TranscriptParser.Parse(string.Join('\n',
            "# comment",
            "",
            "  # indented comment",
            "@daemon --blockdev null-co,node-name=n0",
            "@daemon",
            "@daemon-fail --bogus",
            "@client a $TEST_DIR/x.sock",
            "@close",
            "> {\"execute\": \"qmp_capabilities\"}",
            "@save out.json {\"execute\": \"query-block\"}",
            "@send {bad",
            "@recv",
            "@recv-raw",
            "@recv-eof",
            "@wait JOB_STATUS_CHANGE",
            "$ echo hi",
            "@stop",
            "@wait-exit",
            "@require jq\r"));

        Assert.Equal(
            [
                StepKind.Daemon, StepKind.Daemon, StepKind.DaemonFail, StepKind.Client, StepKind.Close,
                StepKind.Command, StepKind.Save, StepKind.Send, StepKind.Recv, StepKind.RecvRaw, StepKind.RecvEof,
                StepKind.Wait, StepKind.Shell, StepKind.Stop, StepKind.WaitExit, StepKind.Require,
            ],
            steps.Select(s => s.Kind));
        Assert.Equal("--blockdev null-co,node-name=n0", steps[0].Text);
        Assert.Equal(string.Empty, steps[1].Text);
        Assert.Equal("echo hi", steps[12].Text);
        Assert.Equal("jq", steps[15].Text);
        Assert.Equal(4, steps[0].Line);
    }

    [Theory]
    [InlineData("> {bad", "valid JSON")]
    [InlineData("> [1]", "JSON object")]
    [InlineData("@nope", "unknown directive")]
    [InlineData("@recv x", "takes no argument")]
    [InlineData("@wait", "needs an argument")]
    [InlineData("@save out.json", "file name and a command")]
    [InlineData("@save ../out.json {}", "plain name")]
    [InlineData("hello", "cannot parse")]
    [InlineData("$", "needs a command")]
    public void Malformed_lines_are_reported_with_their_line_number(string line, string message)
    {
        var error = Assert.Throws<TranscriptFormatException>(() => TranscriptParser.Parse("# first\n" + line));
        Assert.StartsWith("line 2: ", error.Message, StringComparison.Ordinal);
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }
}
