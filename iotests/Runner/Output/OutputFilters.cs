using System.Text.Json;
using System.Text.RegularExpressions;

namespace BlockDaemon.IoTests.Output;

/// <summary>
/// Every filter that makes output comparable across runs and across daemons, in one place.
/// Structural filters see parsed QMP messages; text filters see every printed line. To add a
/// filter, add a rule here and say so in iotests/README.md.
/// </summary>
public sealed partial class OutputFilters
{
    /// <summary>What an event's <c>timestamp</c> member is printed as.</summary>
    public const string TimestampReplacement = "{\"microseconds\": \"USECS\", \"seconds\": \"SECS\"}";

    /// <summary>What the greeting's <c>QMP.version</c> object is printed as.</summary>
    public const string VersionReplacement = "\"VERSION\"";

    private readonly string _testDir;
    private readonly string _sock;

    public OutputFilters(string testDir, string sock)
    {
        _testDir = testDir;
        _sock = sock;
    }

    /// <summary>Formats a QMP message canonically with the structural and text filters applied.</summary>
    public string FormatMessage(JsonElement message)
    {
        var isEvent = message.ValueKind == JsonValueKind.Object && message.TryGetProperty("event", out _);
        var isGreeting = message.ValueKind == JsonValueKind.Object && message.TryGetProperty("QMP", out _);
        var text = JsonFormatter.Format(message, (path, _) => path switch
        {
            "/timestamp" when isEvent => TimestampReplacement,
            "/QMP/version" when isGreeting => VersionReplacement,
            _ => null,
        });
        return FilterText(text);
    }

    /// <summary>Filters applied to every printed line: paths of this test and auto node names.</summary>
    public string FilterText(string text)
    {
        // SOCK lives inside TEST_DIR, so the longer path goes first.
        text = text.Replace(_sock, "SOCK", StringComparison.Ordinal);
        text = text.Replace(_testDir, "TEST_DIR", StringComparison.Ordinal);
        return AutoNodeName().Replace(text, "#block${counter}NN");
    }

    /// <summary>Text filters plus the daemon's program-name prefix, for what a daemon writes to stderr.</summary>
    public string FilterDaemonStderr(string text) =>
        ProgramPrefix().Replace(FilterText(text), "DAEMON:");

    // qsd names auto-generated nodes "#block" + a counter + two random digits (QEMU's
    // id_generate); the counter is deterministic, the random part is not.
    [GeneratedRegex(@"#block(?<counter>\d+)\d\d(?!\d)")]
    private static partial Regex AutoNodeName();

    // getopt errors use argv[0] (a full path when the runner starts the daemon), QEMU's own
    // error_report uses the bare name.
    [GeneratedRegex(@"^(?:\S*/)?(?:qemu-storage-daemon|blockd):", RegexOptions.Multiline)]
    private static partial Regex ProgramPrefix();
}
