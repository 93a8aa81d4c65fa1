using System.Text.Json;
using BlockDaemon.IoTests.Output;

namespace BlockDaemon.IoTests.Tests;

public sealed class OutputTests
{
    private static string Format(string json)
    {
        using var document = JsonDocument.Parse(json);
        return JsonFormatter.Format(document.RootElement);
    }

    [Theory]
    [InlineData("{\"b\":1,\"a\":[1,2,{\"d\":null,\"c\":true}]}", "{\"a\": [1, 2, {\"c\": true, \"d\": null}], \"b\": 1}")]
    [InlineData("{}", "{}")]
    [InlineData("[]", "[]")]
    [InlineData("[0.10000000000000001, 1e+20, -0]", "[0.10000000000000001, 1e+20, -0]")]
    [InlineData("\"tab\\tq\\\"s\\/b\\\\ \\u00E9\\u0001\"", "\"tab\\tq\\\"s/b\\\\ \\u00e9\\u0001\"")]
    [InlineData("{\"id\":1,\"id\":2}", "{\"id\": 1, \"id\": 2}")]
    public void Formats_canonically(string json, string expected) => Assert.Equal(expected, Format(json));

    [Fact]
    public void Filters_event_timestamps_greeting_version_paths_and_auto_node_names()
    {
        var filters = new OutputFilters("/tmp/iotests-abc", "/tmp/iotests-abc/qmp.sock");
        using var evt = JsonDocument.Parse("{\"timestamp\":{\"seconds\":1,\"microseconds\":2},\"event\":\"X\",\"data\":{\"timestamp\":5}}");
        Assert.Equal(
            "{\"data\": {\"timestamp\": 5}, \"event\": \"X\", \"timestamp\": {\"microseconds\": \"USECS\", \"seconds\": \"SECS\"}}",
            filters.FormatMessage(evt.RootElement));

        using var greeting = JsonDocument.Parse("{\"QMP\":{\"version\":{\"qemu\":{\"major\":7}},\"capabilities\":[\"oob\"]}}");
        Assert.Equal("{\"QMP\": {\"capabilities\": [\"oob\"], \"version\": \"VERSION\"}}", filters.FormatMessage(greeting.RootElement));

        using var reply = JsonDocument.Parse("{\"return\":{\"timestamp\":1,\"f\":\"/tmp/iotests-abc/qmp.sock /tmp/iotests-abc/img\",\"n\":\"#block123\"}}");
        Assert.Equal(
            "{\"return\": {\"f\": \"SOCK TEST_DIR/img\", \"n\": \"#block1NN\", \"timestamp\": 1}}",
            filters.FormatMessage(reply.RootElement));
    }

    [Theory]
    [InlineData("qemu-storage-daemon: --bogus: x\n", "DAEMON: --bogus: x\n")]
    [InlineData("/usr/bin/qemu-storage-daemon: unrecognized option '--bogus'", "DAEMON: unrecognized option '--bogus'")]
    [InlineData("blockd: a\n/x/y/blockd: b\n", "DAEMON: a\nDAEMON: b\n")]
    [InlineData("not blockd: a", "not blockd: a")]
    public void Filters_program_name_prefixes_in_daemon_stderr(string stderr, string expected) =>
        Assert.Equal(expected, new OutputFilters("/tmp/t", "/tmp/t/s").FilterDaemonStderr(stderr));

    [Fact]
    public void Diff_is_empty_for_equal_text_and_unified_otherwise()
    {
        Assert.Equal(string.Empty, UnifiedDiff.Create("a\nb\n", "a\nb\n", "x", "y"));
        var expected = string.Join('\n', "1", "2", "3", "4", "5", "6", "7", "8") + "\n";
        var actual = expected.Replace("5\n", "five\n", StringComparison.Ordinal);
        Assert.Equal(
            "--- x\n+++ y\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n",
            UnifiedDiff.Create(expected, actual, "x", "y"));
        Assert.Equal("--- x\n+++ y\n@@ -0,0 +1,1 @@\n+new\n", UnifiedDiff.Create(string.Empty, "new\n", "x", "y"));
    }
}
