namespace BlockDaemon.Ctl.Cli;

/// <summary>
/// The socket blockctl talks to without --socket: $BLOCKCTL_SOCKET if set, else where blockd
/// with no arguments serves QMP (src/BlockDaemon/DefaultSocket.cs):
/// $XDG_RUNTIME_DIR/blockd/qmp.sock, or ./blockd.sock when XDG_RUNTIME_DIR is not set.
/// Unlike the daemon, the client creates no directory.
/// </summary>
public static class DefaultSocketPath
{
    public static string Resolve(Func<string, string?> environment)
    {
        string? explicitPath = environment("BLOCKCTL_SOCKET");
        if (!string.IsNullOrEmpty(explicitPath))
        {
            return explicitPath;
        }
        string? runtime = environment("XDG_RUNTIME_DIR");
        if (!string.IsNullOrEmpty(runtime) && Directory.Exists(runtime))
        {
            return Path.Combine(runtime, "blockd", "qmp.sock");
        }
        return Path.GetFullPath("blockd.sock");
    }
}
