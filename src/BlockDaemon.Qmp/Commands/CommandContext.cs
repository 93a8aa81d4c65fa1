using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Jobs;
using BlockDaemon.Qmp.Exports;
using BlockDaemon.Qmp.Schema;
using BlockDaemon.Qmp.Server;

namespace BlockDaemon.Qmp.Commands;

/// <summary>What a command handler may use. Handlers run on the control loop.</summary>
public sealed class CommandContext
{
    public required BlockGraph Graph { get; init; }
    public required QmpSchema Schema { get; init; }
    public required EventBus Events { get; init; }
    public required IDaemonControl Daemon { get; init; }

    /// <summary>The session that sent the command (null for commands from the command line).</summary>
    public QmpSession? Session { get; init; }

    /// <summary>Work to run once the command's reply is queued (e.g. quit: the reply must go out first).</summary>
    public List<Action> AfterReply { get; } = [];

    public required JobManager Jobs { get; init; }

    /// <summary>The NBD server and the exports.</summary>
    public required BlockExportRegistry Exports { get; init; }

    /// <summary>
    /// Completes once this command's reply is queued (at once for commands from the command
    /// line): a job started by the command waits for it before it reports anything more.
    /// </summary>
    public Task ReplySent()
    {
        if (Session is null)
        {
            return Task.CompletedTask;
        }
        var sent = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        AfterReply.Add(() => sent.TrySetResult());
        return sent.Task;
    }
}

/// <summary>What the hosting process offers to commands.</summary>
public interface IDaemonControl
{
    /// <summary>Asks the daemon to shut down cleanly; monitors still write what they have queued.</summary>
    void RequestShutdown();

    /// <summary>The version reported by the greeting and query-version.</summary>
    (int Major, int Minor, int Micro, string Package) Version { get; }
}
