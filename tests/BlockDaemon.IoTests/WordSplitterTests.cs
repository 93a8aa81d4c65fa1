using BlockDaemon.IoTests.Transcript;

namespace BlockDaemon.IoTests.Tests;

public sealed class WordSplitterTests
{
    private static readonly Variables Vars = new(new Dictionary<string, string>
    {
        ["TEST_DIR"] = "/tmp/t 1",
        ["SOCK"] = "/tmp/t 1/qmp.sock",
    });

    [Theory]
    [InlineData("a b\tc", new[] { "a", "b", "c" })]
    [InlineData("  a   b  ", new[] { "a", "b" })]
    [InlineData("", new string[0])]
    [InlineData("'{\"driver\": \"null-co\"}'", new[] { "{\"driver\": \"null-co\"}" })]
    [InlineData("\"a b\"c 'd e'", new[] { "a bc", "d e" })]
    [InlineData("a\\ b", new[] { "a b" })]
    [InlineData("\"q\\\"uote\\\\ \\$SOCK\"", new[] { "q\"uote\\ $SOCK" })]
    [InlineData("path=$TEST_DIR/img", new[] { "path=/tmp/t 1/img" })]
    [InlineData("\"${SOCK}x\"", new[] { "/tmp/t 1/qmp.sockx" })]
    [InlineData("'$SOCK'", new[] { "$SOCK" })]
    [InlineData("cost=$5", new[] { "cost=$5" })]
    public void Splits_like_a_shell(string text, string[] expected) =>
        Assert.Equal(expected, WordSplitter.Split(text, Vars));

    [Theory]
    [InlineData("'open")]
    [InlineData("\"open")]
    [InlineData("$NOPE")]
    public void Rejects_unterminated_quotes_and_unknown_variables(string text) =>
        Assert.Throws<TranscriptFormatException>(() => WordSplitter.Split(text, Vars));

    [Fact]
    public void Expand_replaces_variables_in_json_text() =>
        Assert.Equal("{\"filename\": \"/tmp/t 1/img\"}", Vars.Expand("{\"filename\": \"$TEST_DIR/img\"}"));
}
