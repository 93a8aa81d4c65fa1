namespace BlockDaemon.Ctl.Cli;

/// <summary>blockctl's exit statuses; scripts can tell a refused command from an unreachable daemon or a job left running.</summary>
public static class ExitCodes
{
    public const int Success = 0;

    /// <summary>The daemon refused the command (error reply), or a job failed or was cancelled.</summary>
    public const int CommandFailed = 1;

    /// <summary>blockctl's own command line or arguments are wrong; nothing was sent.</summary>
    public const int Usage = 2;

    /// <summary>No daemon at the socket, or the connection broke.</summary>
    public const int ConnectionFailed = 3;

    /// <summary>--timeout elapsed; the job was left running.</summary>
    public const int TimedOut = 4;

    /// <summary>Interrupted (Ctrl-C, SIGINT), as shells report 128 + 2.</summary>
    public const int Interrupted = 130;
}
