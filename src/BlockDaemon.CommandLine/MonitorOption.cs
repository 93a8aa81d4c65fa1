namespace BlockDaemon.CommandLine;

/// <summary>
/// <c>--monitor</c>. <paramref name="Mode"/> is <c>control</c> (qsd's default) or
/// <c>readline</c>, which qsd rejects only once the chardev exists, with "Only QMP is supported".
/// </summary>
public sealed record MonitorOption(string Chardev, string Mode, bool Pretty, string? Id) : DaemonOption;
