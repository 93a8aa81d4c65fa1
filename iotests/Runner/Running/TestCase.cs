using BlockDaemon.IoTests.Daemon;

namespace BlockDaemon.IoTests.Running;

/// <summary>
/// One transcript: <c>NNN-name.qmp</c> with its golden <c>NNN-name.out</c>, recorded from qsd,
/// and optionally <c>NNN-name.blockd.out</c>, used instead for blockd where it deliberately
/// differs from qsd.
/// </summary>
public sealed record TestCase(string Name, string Directory)
{
    public string StepsPath => Path.Combine(Directory, Name + ".qmp");

    public string GoldenPath => Path.Combine(Directory, Name + ".out");

    public string OverridePath(DaemonKind daemon) => Path.Combine(Directory, $"{Name}.{daemon.Name()}.out");

    /// <summary>The golden file this daemon's output is compared with.</summary>
    public string GoldenFor(DaemonKind daemon)
    {
        var overridePath = OverridePath(daemon);
        return daemon != DaemonKind.Qsd && File.Exists(overridePath) ? overridePath : GoldenPath;
    }

    public override string ToString() => Name;
}
