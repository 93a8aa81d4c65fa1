using System.Diagnostics;
using System.Runtime.InteropServices;

namespace BlockDaemon;

/// <summary>
/// --daemonize without fork (unsafe in a .NET process): the parent starts a copy of itself in a
/// new session and exits once the copy reports that start-up finished, with the copy's exit code
/// if start-up failed instead. The copy's stderr is the parent's, so its errors show as usual.
/// </summary>
internal static partial class Daemonizer
{
    private const string ChildMarker = "BLOCKD_DAEMONIZED";
    private const string ReadyLine = "blockd-ready";

    public static bool IsChild => Environment.GetEnvironmentVariable(ChildMarker) == "1";

    public static async Task<int> RunParentAsync(string[] args)
    {
        var start = new ProcessStartInfo
        {
            RedirectStandardOutput = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        string processPath = Environment.ProcessPath ?? "blockd";
        start.FileName = processPath;
        // Under `dotnet blockd.dll` the entry assembly must be passed on again.
        if (Path.GetFileNameWithoutExtension(processPath) == "dotnet")
        {
            start.ArgumentList.Add(Environment.GetCommandLineArgs()[0]);
        }
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        start.Environment[ChildMarker] = "1";
        using var child = Process.Start(start) ?? throw new InvalidOperationException("Could not start the daemon process");
        child.StandardInput.Close();
        string? line = await child.StandardOutput.ReadLineAsync().ConfigureAwait(false);
        if (line == ReadyLine)
        {
            return 0;
        }
        await child.WaitForExitAsync().ConfigureAwait(false);
        return child.ExitCode == 0 ? 1 : child.ExitCode;
    }

    /// <summary>In the daemon copy: detach from the terminal's session.</summary>
    public static void DetachSession() => _ = SetSid();

    /// <summary>In the daemon copy: tell the waiting parent that start-up is complete.</summary>
    public static void SignalReady()
    {
        Console.Out.WriteLine(ReadyLine);
        Console.Out.Flush();
        Console.SetOut(TextWriter.Null);
    }

    [LibraryImport("libc", EntryPoint = "setsid")]
    private static partial int SetSid();
}
