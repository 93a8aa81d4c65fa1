namespace BlockDaemon.CommandLine.QemuOpts;

/// <summary>
/// A parsed option group. When <paramref name="HelpRequested"/> the options are the ones read
/// before the help flag and the caller prints the listing instead of using them.
/// </summary>
internal sealed record QemuOptsResult(string? Id, IReadOnlyList<QemuOpt> Options, bool HelpRequested)
{
    /// <summary>The last value given for <paramref name="name"/>, as qemu_opt_get returns it.</summary>
    public QemuOpt? Find(string name) => Options.LastOrDefault(o => o.Name == name);
}
