using BlockDaemon.IoTests.Daemon;

namespace BlockDaemon.IoTests.Running;

/// <summary>Where things live in the repository, and the default daemon and tool paths.</summary>
public sealed record RepoLayout(string Root)
{
    public string TestsDirectory => Path.Combine(Root, "iotests", "tests");

    /// <summary>Finds the repository root by walking up from <paramref name="start"/> to a directory holding iotests/tests.</summary>
    public static RepoLayout? FindFrom(string start)
    {
        for (var directory = new DirectoryInfo(start); directory is not null; directory = directory.Parent)
        {
            if (System.IO.Directory.Exists(Path.Combine(directory.FullName, "iotests", "tests")))
            {
                return new RepoLayout(directory.FullName);
            }
        }

        return null;
    }

    /// <summary>Looks from the current directory first, then from where this assembly was built to.</summary>
    public static RepoLayout Locate() =>
        FindFrom(Environment.CurrentDirectory)
        ?? FindFrom(AppContext.BaseDirectory)
        ?? throw new InvalidOperationException("cannot find the repository root (a directory with iotests/tests) above the current directory or the runner");

    /// <summary>The blockd binary: <c>$BLOCKD</c>, else the Debug build output, else the Release one.</summary>
    public string DefaultBlockdPath()
    {
        var fromEnvironment = Environment.GetEnvironmentVariable("BLOCKD");
        if (!string.IsNullOrEmpty(fromEnvironment))
        {
            return Path.GetFullPath(fromEnvironment);
        }

        var debug = Path.Combine(Root, "src", "BlockDaemon", "bin", "Debug", "net10.0", "blockd");
        var release = Path.Combine(Root, "src", "BlockDaemon", "bin", "Release", "net10.0", "blockd");
        return !File.Exists(debug) && File.Exists(release) ? release : debug;
    }

    /// <summary>qemu-storage-daemon: <c>$QSD</c>, else from PATH; null when not installed.</summary>
    public static string? DefaultQsdPath()
    {
        var fromEnvironment = Environment.GetEnvironmentVariable("QSD");
        return !string.IsNullOrEmpty(fromEnvironment) ? ToolLocator.Find(fromEnvironment) : ToolLocator.Find("qemu-storage-daemon");
    }

    public RunnerSettings DefaultSettings(DaemonKind daemon) => new()
    {
        Daemon = daemon,
        DaemonPath = daemon == DaemonKind.Qsd ? DefaultQsdPath() ?? "qemu-storage-daemon" : DefaultBlockdPath(),
    };
}
