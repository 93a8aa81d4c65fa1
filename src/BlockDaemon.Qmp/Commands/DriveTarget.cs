using BlockDaemon.Core.Drivers.File;
using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Options;
using BlockDaemon.Qmp.Transactions;

namespace BlockDaemon.Qmp.Commands;

/// <summary>
/// The target image of drive-mirror and drive-backup: checked before any file is touched,
/// then created (unless mode=existing) and opened as a node that belongs to the job; if
/// anything fails on the way, the node is discarded and a file this command created removed.
/// </summary>
internal static class DriveTarget
{
    /// <summary>What creating or opening the target would refuse, checked before the file exists.</summary>
    public static void Check(BlockGraph graph, string path, bool existing, string? format, BlockNode? backing)
    {
        if (!existing)
        {
            if (format != "raw" || backing is not null)
            {
                OverlayImage.CheckFormat(graph, format!);
            }
            if (backing is not null)
            {
                OverlayImage.CheckTarget(graph, path, backing);
            }
        }
        else if (format is not null && !graph.DriverNames.Contains(format))
        {
            throw QmpException.Generic($"Unknown driver '{format}'");
        }
    }

    /// <summary>
    /// Creates the image (<paramref name="backing"/> written into a new format image's header),
    /// opens it with <paramref name="configure"/> adding the caller's options for the probed
    /// driver, and hands the node to <paramref name="use"/>.
    /// </summary>
    public static async Task<T> CreateAndUseAsync<T>(BlockGraph graph, string path, bool existing, string? format, long size, BlockNode? backing,
        Action<OptionDict, string> configure, Func<BlockNode, Task<T>> use)
    {
        bool created = false;
        BlockNode? target = null;
        try
        {
            if (!existing)
            {
                await OverlayImage.CreateFileAsync(path, default).ConfigureAwait(false);
                created = true;
                if (format == "raw")
                {
                    await FileCreator.CreateAsync(new FileCreateOptions { Filename = path, Size = size }, default).ConfigureAwait(false);
                }
                else
                {
                    await OverlayImage.FormatAsync(graph, path, size, backing, default).ConfigureAwait(false);
                }
            }
            string driver = format ?? Probe(path);
            var options = new OptionDict();
            options.Set("driver", driver);
            var fileOptions = new OptionDict();
            fileOptions.Set("driver", "file");
            fileOptions.Set("filename", path);
            options.Set("file", fileOptions);
            configure(options, driver);
            target = await graph.AddUnownedNodeAsync(options, default).ConfigureAwait(false);
            return await use(target).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            if (target is not null && target.Parents.Count == 0 && graph.FindNode(target.NodeName) == target)
            {
                await graph.DiscardNodeAsync(target).ConfigureAwait(false);
            }
            if (created)
            {
                OverlayImage.Remove(path);
            }
            if (e is BlockException be)
            {
                throw QmpErrors.From(be);
            }
            throw;
        }
    }

    // qsd probes an existing image without 'format'; blockd knows qcow2's magic and takes anything else as raw.
    private static string Probe(string path)
    {
        try
        {
            using var file = File.OpenRead(path);
            Span<byte> magic = stackalloc byte[4];
            return file.Read(magic) == 4 && magic.SequenceEqual((ReadOnlySpan<byte>)[0x51, 0x46, 0x49, 0xfb]) ? "qcow2" : "raw";
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return "raw";
        }
    }
}
