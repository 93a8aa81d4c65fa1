using BlockDaemon.IoTests.Daemon;

namespace BlockDaemon.IoTests.Running;

/// <summary>How transcripts are run: which daemon, where the tools are, and the time limits.</summary>
public sealed record RunnerSettings
{
    public required DaemonKind Daemon { get; init; }

    /// <summary>The daemon binary; a missing file fails every test with a message saying so.</summary>
    public required string DaemonPath { get; init; }

    public string QemuImg { get; init; } = Environment.GetEnvironmentVariable("QEMU_IMG") is { Length: > 0 } img ? img : "qemu-img";

    public string QemuIo { get; init; } = Environment.GetEnvironmentVariable("QEMU_IO") is { Length: > 0 } io ? io : "qemu-io";

    /// <summary>Deadline for every read from a QMP socket and for daemon start-up and shutdown.</summary>
    public TimeSpan ReadTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Deadline for a daemon started by <c>@daemon-fail</c> to exit by itself.</summary>
    public TimeSpan DaemonFailTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Deadline for one <c>$</c> step.</summary>
    public TimeSpan ShellTimeout { get; init; } = TimeSpan.FromSeconds(60);
}
