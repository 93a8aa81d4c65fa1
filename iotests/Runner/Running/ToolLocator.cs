namespace BlockDaemon.IoTests.Running;

/// <summary>Finds executables on PATH, as <c>command -v</c> would.</summary>
public static class ToolLocator
{
    public static string? Find(string tool)
    {
        if (tool.Contains('/', StringComparison.Ordinal))
        {
            return IsExecutable(tool) ? Path.GetFullPath(tool) : null;
        }

        var path = Environment.GetEnvironmentVariable("PATH") ?? string.Empty;
        foreach (var directory in path.Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(directory, tool);
            if (IsExecutable(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    private static bool IsExecutable(string file)
    {
        if (!File.Exists(file))
        {
            return false;
        }

        if (OperatingSystem.IsWindows())
        {
            return true;
        }

        const UnixFileMode anyExecute = UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;
        return (File.GetUnixFileMode(file) & anyExecute) != 0;
    }
}
