namespace BlockDaemon.Jobs.BlockJobs;

/// <summary>QAPI BlockdevOnError: what a block job does when a read or write fails.</summary>
public enum OnErrorPolicy
{
    Report,
    Ignore,
    Enospc,
    Stop,
    Auto,
}

/// <summary>QAPI BlockDeviceIoStatus, as query-block-jobs shows it.</summary>
public enum IoStatus
{
    Ok,
    Failed,
    NoSpace,
}

public static class BlockJobEnumNames
{
    public static OnErrorPolicy ParseOnError(string? name) => name switch
    {
        null or "report" => OnErrorPolicy.Report,
        "ignore" => OnErrorPolicy.Ignore,
        "enospc" => OnErrorPolicy.Enospc,
        "stop" => OnErrorPolicy.Stop,
        _ => OnErrorPolicy.Auto,
    };

    public static string ToQapi(this IoStatus status) => status switch
    {
        IoStatus.Ok => "ok",
        IoStatus.Failed => "failed",
        _ => "nospace",
    };
}

/// <summary>The action BLOCK_JOB_ERROR reports (QAPI BlockErrorAction).</summary>
public enum BlockErrorAction
{
    Ignore,
    Report,
    Stop,
}

/// <summary>Receives the BLOCK_JOB_* events; the QMP layer sends them. Called on the control loop.</summary>
public interface IBlockJobEvents
{
    void Completed(BlockJobSnapshot job, string? error);

    void Cancelled(BlockJobSnapshot job);

    void Ready(BlockJobSnapshot job);

    void Pending(string type, string id);

    void Error(string device, bool read, BlockErrorAction action);
}

/// <summary>The fields the BLOCK_JOB_COMPLETED/CANCELLED/READY events carry.</summary>
public readonly record struct BlockJobSnapshot(string Type, string Device, long Len, long Offset, long Speed);

/// <summary>Events nobody listens to (tests, tools).</summary>
public sealed class NullBlockJobEvents : IBlockJobEvents
{
    public static readonly NullBlockJobEvents Instance = new();

    public void Completed(BlockJobSnapshot job, string? error)
    {
    }

    public void Cancelled(BlockJobSnapshot job)
    {
    }

    public void Ready(BlockJobSnapshot job)
    {
    }

    public void Pending(string type, string id)
    {
    }

    public void Error(string device, bool read, BlockErrorAction action)
    {
    }
}
