using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;

namespace BlockDaemon.Qcow2.Tests.Crash;

/// <summary>
/// Opens <see cref="RecordingDisk"/>s as driver "crash-recorder" with option <c>filename</c>:
/// the file's current content is loaded into memory and never written back.
/// </summary>
internal sealed class RecordingDiskFactory : IBlockDriverFactory
{
    public string DriverName => "crash-recorder";

    /// <summary>The disk opened last (a run opens exactly one).</summary>
    public RecordingDisk? Opened { get; private set; }

    public async ValueTask<IBlockDriver> OpenAsync(DriverOpenContext context, CancellationToken ct)
    {
        string path = context.Options.GetString("filename")
            ?? throw new InvalidOperationException("crash-recorder needs 'filename'");
        context.Options.Remove("filename");
        var disk = new RecordingDisk(path, await File.ReadAllBytesAsync(path, ct).ConfigureAwait(false));
        Opened = disk;
        return disk;
    }
}
