using System.Diagnostics;
using Xunit;

namespace BlockDaemon.TestKit;

/// <summary>
/// Finds the Debug build of blockd and starts daemon (and tool) processes the one way the
/// test projects share: every standard stream redirected, no shell, and through
/// <see cref="SpawnGate"/> so a start never holds copies of image locks another test reopens.
/// </summary>
public static class DaemonLauncher
{
    /// <summary>src/BlockDaemon/bin/Debug/net10.0/blockd of this checkout; skips (not passes) the test when it is not built.</summary>
    public static string BuiltBlockdPath()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "BlockDaemon.sln")))
            {
                string path = Path.Combine(dir.FullName, "src", "BlockDaemon", "bin", "Debug", "net10.0", "blockd");
                if (!File.Exists(path))
                {
                    Assert.Skip($"blockd is not built ({path}); run ./build.sh first");
                }
                return path;
            }
        }
        Assert.Skip("BlockDaemon.sln not found above " + AppContext.BaseDirectory);
        return "";
    }

    /// <summary>How <paramref name="binary"/> is run with <paramref name="args"/>; callers may add environment before <see cref="Start(ProcessStartInfo)"/>.</summary>
    public static ProcessStartInfo StartInfo(string binary, IEnumerable<string> args)
    {
        var info = new ProcessStartInfo(binary)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (string arg in args)
        {
            info.ArgumentList.Add(arg);
        }
        return info;
    }

    public static Process Start(ProcessStartInfo info) => SpawnGate.Start(info);

    public static Process Start(string binary, IEnumerable<string> args) => SpawnGate.Start(StartInfo(binary, args));
}
