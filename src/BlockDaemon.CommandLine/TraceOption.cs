namespace BlockDaemon.CommandLine;

/// <summary>
/// <c>-T</c>/<c>--trace</c> <c>[[enable=]pattern][,events=FILE][,file=FILE]</c>.
/// <paramref name="Spec"/> is the raw argument. When <paramref name="Enable"/> is <c>help</c> or
/// <c>?</c> qsd lists the trace events and exits 0 (see <see cref="IsEventListRequest"/>).
/// </summary>
public sealed record TraceOption(string Spec, string? Enable, string? Events, string? File) : DaemonOption
{
    public bool IsEventListRequest => Enable is "help" or "?";
}
