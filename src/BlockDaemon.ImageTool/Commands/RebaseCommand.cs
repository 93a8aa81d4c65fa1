using System.Text;
using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;
using BlockDaemon.Core.Options;
using BlockDaemon.ImageTool.Cli;
using BlockDaemon.Qcow2.Format;

namespace BlockDaemon.ImageTool.Commands;

/// <summary>
/// `rebase [-f FMT] [-F BACKING_FMT] [-u] [-p] [-q] -b BACKING FILENAME`: points the image at
/// another backing file ("" for none). In safe mode the image first receives every range it
/// does not allocate itself where the old and the new backing chains read differently, so it
/// reads the same afterwards; -u only rewrites the header. Everything is checked, and the new
/// backing file opened, before the image is written.
/// </summary>
public static class RebaseCommand
{
    private const int ChunkSize = 1 << 20;

    private static readonly OptionSpec[] Specs =
    [
        CommandLine.Value('f'),
        CommandLine.Value('F'),
        CommandLine.Value('b'),
        CommandLine.Flag('u'),
        CommandLine.Flag('p'),
        CommandLine.Flag('q'),
        CommandLine.ForceShareOption,
        CommandLine.Value('t'),
        CommandLine.Value('T'),
        CommandLine.HelpOption,
    ];

    public static async ValueTask<int> RunAsync(IReadOnlyList<string> args, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        if (CommandLine.ParseOrHelp(args, Specs, stdout) is not { } opts)
        {
            return 0;
        }
        string filename = CommandLine.OneImage(opts);
        bool unsafeMode = opts.Has("u"), quiet = opts.Has("q");
        string? backing = opts.Last("b");
        string? backingFormat = opts.Last("F");
        if (!unsafeMode && backing is null)
        {
            throw ToolException.UsageError("Must specify backing file (-b) or use unsafe mode (-u)");
        }
        if (backingFormat is not null && backingFormat is not ("qcow2" or "raw"))
        {
            throw new ToolException($"Invalid format name: '{backingFormat}'");
        }
        string? newBacking = string.IsNullOrEmpty(backing) ? null : backing;
        if (newBacking is not null && backingFormat is null)
        {
            throw new ToolException($"Could not change the backing file to '{newBacking}': backing format must be specified");
        }
        string format = opts.Last("f") ?? ImageOpener.Probe(filename);
        if (format != "qcow2")
        {
            throw new ToolException($"Could not change the backing file to '{backing}': Operation not supported");
        }
        if (!unsafeMode)
        {
            await CopyDifferencesAsync(filename, newBacking, backingFormat, new Progress(opts.Has("p") && !quiet, stdout), ct).ConfigureAwait(false);
        }
        await RewriteHeaderAsync(filename, newBacking, backingFormat, ct).ConfigureAwait(false);
        return 0;
    }

    /// <summary>Safe mode: where the image does not allocate and the chains differ, the old chain's data goes into the image.</summary>
    private static async ValueTask CopyDifferencesAsync(string filename, string? newBacking, string? newFormat, Progress progress, CancellationToken ct)
    {
        await using var image = await ImageOpener.OpenAsync(filename, "qcow2", new OpenMode { Writable = true }, ct).ConfigureAwait(false);
        OpenedImage? target = null;
        if (newBacking is not null)
        {
            string path = ImageCreator.FullBackingPath(newBacking, filename);
            try
            {
                target = await ImageOpener.OpenAsync(path, newFormat, new OpenMode { ForceShare = true }, ct, wrapErrors: false).ConfigureAwait(false);
            }
            catch (BlockException e)
            {
                throw new ToolException($"Could not open new backing file '{newBacking}': {e.Message}");
            }
        }
        try
        {
            var top = image.Root;
            long length = top.Length;
            var oldData = new byte[ChunkSize];
            var newData = new byte[ChunkSize];
            progress.Start();
            for (long offset = 0; offset < length;)
            {
                var status = await top.BlockStatusAsync(offset, length - offset, ct).ConfigureAwait(false);
                long run = Math.Max(1, status.Length);
                if ((status.Flags & BlockStatusFlags.Allocated) == 0)
                {
                    for (long at = offset; at < offset + run; at += ChunkSize)
                    {
                        int n = (int)Math.Min(ChunkSize, offset + run - at);
                        await top.ReadAsync(at, oldData.AsMemory(0, n), ct).ConfigureAwait(false);
                        await ReadBackingAsync(target?.Root, at, newData.AsMemory(0, n), ct).ConfigureAwait(false);
                        if (!oldData.AsSpan(0, n).SequenceEqual(newData.AsSpan(0, n)))
                        {
                            await WriteDifferingSectorsAsync(top, at, oldData.AsMemory(0, n), newData.AsMemory(0, n), ct).ConfigureAwait(false);
                        }
                    }
                }
                offset += run;
                progress.Report(offset, length);
            }
            await top.FlushAsync(ct).ConfigureAwait(false);
            progress.End();
        }
        finally
        {
            if (target is not null)
            {
                await target.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    // The new backing file reads as zeroes past its end, and everywhere when there is none.
    private static async ValueTask ReadBackingAsync(BlockChild? backing, long offset, Memory<byte> buffer, CancellationToken ct)
    {
        buffer.Span.Clear();
        if (backing is null || offset >= backing.Length)
        {
            return;
        }
        int n = (int)Math.Min(buffer.Length, backing.Length - offset);
        await backing.ReadAsync(offset, buffer[..n], ct).ConfigureAwait(false);
    }

    // Only the sectors that differ are written, as qemu-img does, so equal ranges stay unallocated where a cluster allows.
    private static async ValueTask WriteDifferingSectorsAsync(BlockChild top, long offset, ReadOnlyMemory<byte> oldData, ReadOnlyMemory<byte> newData, CancellationToken ct)
    {
        const int sector = 512;
        int pos = 0;
        while (pos < oldData.Length)
        {
            int n = Math.Min(sector, oldData.Length - pos);
            bool differs = !oldData.Span.Slice(pos, n).SequenceEqual(newData.Span.Slice(pos, n));
            int end = pos + n;
            while (end < oldData.Length)
            {
                int m = Math.Min(sector, oldData.Length - end);
                if (!oldData.Span.Slice(end, m).SequenceEqual(newData.Span.Slice(end, m)) != differs)
                {
                    break;
                }
                end += m;
            }
            if (differs)
            {
                await top.WriteAsync(offset + pos, oldData[pos..end], WriteFlags.None, ct).ConfigureAwait(false);
            }
            pos = end;
        }
    }

    /// <summary>Rewrites the first cluster with the new backing file name and format (bdrv_change_backing_file).</summary>
    private static async ValueTask RewriteHeaderAsync(string filename, string? backing, string? format, CancellationToken ct)
    {
        var graph = ImageOpener.NewGraph();
        try
        {
            var options = new OptionDict();
            options.Set("driver", "file");
            options.Set("filename", filename);
            BlockChild file;
            try
            {
                var node = await graph.AddNodeAsync(options, ct).ConfigureAwait(false);
                file = graph.AttachUser(null, node, BlockPermissions.ConsistentRead | BlockPermissions.Write, BlockPermissions.ConsistentRead | BlockPermissions.WriteUnchanged).Root!;
            }
            catch (BlockException e)
            {
                throw new ToolException($"Could not open '{filename}': {e.Message}");
            }
            var probe = new byte[Qcow2Header.V3Length];
            await file.ReadAsync(0, probe, ct).ConfigureAwait(false);
            int clusterSize = 1 << (int)System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(probe.AsSpan(20));
            var cluster = new byte[Math.Min(clusterSize, file.Length)];
            await file.ReadAsync(0, cluster, ct).ConfigureAwait(false);
            var header = Qcow2Header.Parse(cluster);
            var extensions = header.Extensions.ToList();
            int at = extensions.FindIndex(e => e.Type == HeaderExtensionType.BackingFormat);
            if (at >= 0)
            {
                extensions.RemoveAt(at);
            }
            if (backing is not null && format is not null)
            {
                extensions.Insert(Math.Max(at, 0), new HeaderExtension(HeaderExtensionType.BackingFormat, Encoding.UTF8.GetBytes(format)));
            }
            var updated = header with { BackingFileName = backing, Extensions = extensions };
            var output = new byte[clusterSize];
            if (!updated.TryWrite(output, out _))
            {
                throw new ToolException($"Could not change the backing file to '{backing}': No space left on device");
            }
            await file.WriteAsync(0, output.AsMemory(0, (int)Math.Min(clusterSize, Math.Max(file.Length, Qcow2Header.V3Length))), WriteFlags.None, ct).ConfigureAwait(false);
            await file.FlushAsync(ct).ConfigureAwait(false);
        }
        finally
        {
            await graph.CloseAllAsync(ct).ConfigureAwait(false);
        }
    }
}
