namespace BlockDaemon;

/// <summary>Where `blockd` with no arguments serves QMP: $XDG_RUNTIME_DIR/blockd/qmp.sock, else ./blockd.sock.</summary>
internal static class DefaultSocket
{
    public static string Path()
    {
        string? runtime = Environment.GetEnvironmentVariable("XDG_RUNTIME_DIR");
        if (!string.IsNullOrEmpty(runtime) && Directory.Exists(runtime))
        {
            string dir = System.IO.Path.Combine(runtime, "blockd");
            Directory.CreateDirectory(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            return System.IO.Path.Combine(dir, "qmp.sock");
        }
        return System.IO.Path.GetFullPath("blockd.sock");
    }
}
