using BlockDaemon.Core.Graph;

namespace BlockDaemon.Qcow2.Engine;

internal static class FileExtensions
{
    /// <summary>Grows the image file so every allocated cluster lies within it (reads past EOF fail).</summary>
    public static ValueTask EnsureLengthAsync(this BlockChild file, long length, CancellationToken ct) =>
        file.Length >= length ? ValueTask.CompletedTask : file.TruncateAsync(length, ct);
}
