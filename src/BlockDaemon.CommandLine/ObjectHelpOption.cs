namespace BlockDaemon.CommandLine;

/// <summary>
/// <c>--object help</c> or <c>--object TYPE,help</c>. The host lists the creatable object types when
/// <paramref name="QomType"/> is null or unknown, else that type's properties, then exits 0.
/// </summary>
public sealed record ObjectHelpOption(string? QomType) : DaemonOption;
