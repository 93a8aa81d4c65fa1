using BlockDaemon.Nbd.Protocol;

namespace BlockDaemon.Nbd.Client;

/// <summary>A request on the wire awaiting its reply; the reader task fills and completes it.</summary>
internal sealed class NbdPendingRequest
{
    private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public NbdPendingRequest(NbdCommand command, ulong offset, uint length, Memory<byte> readBuffer)
    {
        Command = command;
        Offset = offset;
        Length = length;
        ReadBuffer = readBuffer;
    }

    public NbdCommand Command { get; }
    public ulong Offset { get; }
    public uint Length { get; }

    /// <summary>Where a READ's data goes (chunks land at their offset relative to <see cref="Offset"/>).</summary>
    public Memory<byte> ReadBuffer { get; }

    /// <summary>The first base:allocation extent of a BLOCK_STATUS reply.</summary>
    public NbdExtent? Extent { get; set; }

    /// <summary>The first error the server reported for this request (0: none).</summary>
    public uint Error { get; set; }

    public string? ErrorMessage { get; set; }

    public Task Completion => _done.Task;

    public void Complete() => _done.TrySetResult();

    public void Fail(Exception error) => _done.TrySetException(error);
}
