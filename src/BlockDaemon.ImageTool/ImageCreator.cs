using BlockDaemon.Core.Drivers.File;
using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Options;
using BlockDaemon.ImageTool.Cli;
using BlockDaemon.Qcow2.Create;
using BlockDaemon.Qcow2.Format;

namespace BlockDaemon.ImageTool;

/// <summary>What `create` (and `convert` for its target) asks for.</summary>
public sealed record CreateRequest
{
    public required string Filename { get; init; }
    public required string Format { get; init; }
    public required CreateOptionList Options { get; init; }

    /// <summary>The size argument, or null to take the backing file's.</summary>
    public long? Size { get; init; }

    /// <summary>-u: do not open the backing file (its size must then be given).</summary>
    public bool Unsafe { get; init; }
    public bool Quiet { get; init; }
}

/// <summary>
/// qemu-img's bdrv_img_create over the daemon's creators: resolve the backing file and size,
/// print the "Formatting" line, and create. Every check, including those qemu-img only meets
/// while writing, is made before the first file is created, so a refused image leaves nothing.
/// Errors name the new image first, as qemu-img's do.
/// </summary>
public static class ImageCreator
{
    public static async ValueTask CreateAsync(CreateRequest r, TextWriter stdout, CancellationToken ct)
    {
        try
        {
            await CreateCoreAsync(r, stdout, ct).ConfigureAwait(false);
        }
        catch (ToolException e)
        {
            throw new ToolException($"{r.Filename}: {e.Message}", e.ExitCode) { Hint = e.Hint };
        }
        catch (BlockException e)
        {
            throw new ToolException($"{r.Filename}: {e.Message}");
        }
    }

    private static async ValueTask CreateCoreAsync(CreateRequest r, TextWriter stdout, CancellationToken ct)
    {
        var opts = r.Options;
        long? size = opts.GetSize("size") ?? r.Size;
        if (opts.Get("backing_file") is { } backing)
        {
            string full = FullBackingPath(backing, r.Filename);
            string? backingFormat = opts.Get("backing_fmt");
            if (backingFormat is null)
            {
                throw new ToolException("Backing file specified without backing format") { Hint = $"Detected format of {ImageOpener.Probe(full)}." };
            }
            if (!r.Unsafe || size is null)
            {
                try
                {
                    await using var image = await ImageOpener.OpenAsync(full, backingFormat, new OpenMode { ForceShare = true }, ct, wrapErrors: false).ConfigureAwait(false);
                    size ??= image.Root.Length;
                }
                catch (BlockException e)
                {
                    throw new ToolException(e.Message) { Hint = "Could not open backing image.\n" };
                }
            }
        }
        if (size is not { } bytes)
        {
            throw new ToolException("Image creation needs a size parameter");
        }
        opts.Set("size", bytes.ToString(System.Globalization.CultureInfo.InvariantCulture));
        if (!r.Quiet)
        {
            stdout.Write($"Formatting '{r.Filename}', fmt={r.Format} {opts.Describe()}\n");
            await stdout.FlushAsync(ct).ConfigureAwait(false);
        }
        if (r.Format == "qcow2")
        {
            await CreateQcow2Async(r.Filename, ToQcow2(opts, bytes), ct).ConfigureAwait(false);
        }
        else
        {
            await FileCreator.CreateAsync(new FileCreateOptions { Filename = r.Filename, Size = bytes, Preallocation = RawPreallocation(opts.Get("preallocation")) }, ct).ConfigureAwait(false);
        }
    }

    /// <summary>A backing file name relative to the new image's directory, as QEMU resolves it.</summary>
    public static string FullBackingPath(string backing, string imageName)
    {
        if (backing.StartsWith('/'))
        {
            return backing;
        }
        int slash = imageName.LastIndexOf('/');
        return slash < 0 ? backing : imageName[..(slash + 1)] + backing;
    }

    private static PreallocMode RawPreallocation(string? value) => value switch
    {
        null or "off" => PreallocMode.Off,
        "falloc" => PreallocMode.Falloc,
        "full" => PreallocMode.Full,
        "metadata" => throw new ToolException("Unsupported preallocation mode: metadata"),
        _ => throw new ToolException($"Parameter 'preallocation' does not accept value '{value}'"),
    };

    /// <summary>The -o options in the creator's terms; value errors in qemu-img's words, then the creator's own checks.</summary>
    public static Qcow2CreateOptions ToQcow2(CreateOptionList opts, long size)
    {
        if (opts.GetBool("encryption") || opts.IsSet("encrypt.format"))
        {
            throw new ToolException("Encrypted images are not supported by blockimg");
        }
        int version = opts.Get("compat") switch
        {
            null or "1.1" or "v3" => 3,
            "0.10" or "v2" => 2,
            var other => throw new ToolException($"Parameter 'version' does not accept value '{other}'"),
        };
        var preallocation = opts.Get("preallocation") switch
        {
            null or "off" => Preallocation.Off,
            "metadata" => Preallocation.Metadata,
            "falloc" => Preallocation.Falloc,
            "full" => Preallocation.Full,
            var other => throw new ToolException($"Parameter 'preallocation' does not accept value '{other}'"),
        };
        var compression = opts.Get("compression_type") switch
        {
            "zlib" => CompressionType.Zlib,
            "zstd" => CompressionType.Zstd,
            var other => throw new ToolException($"Parameter 'compression-type' does not accept value '{other}'"),
        };
        long clusterSize = opts.GetSize("cluster_size") ?? 65536;
        ulong refcountBits = ulong.Parse(opts.Get("refcount_bits") ?? "16", System.Globalization.CultureInfo.InvariantCulture);
        var o = new Qcow2CreateOptions
        {
            Size = size,
            Version = version,
            ClusterSize = clusterSize > int.MaxValue ? 0 : (int)clusterSize,
            RefcountBits = refcountBits > 64 ? 3 : (int)refcountBits,
            LazyRefcounts = opts.GetBool("lazy_refcounts"),
            BackingFile = opts.Get("backing_file"),
            BackingFormat = opts.Get("backing_fmt"),
            Preallocation = preallocation,
            ExtendedL2 = opts.GetBool("extended_l2"),
            CompressionType = compression,
            DataFile = opts.Get("data_file"),
            DataFileRaw = opts.GetBool("data_file_raw"),
        };
        Qcow2CreateValidation.Validate(o);
        Qcow2CreateValidation.ValidateLate(o);
        return o;
    }

    public static async ValueTask CreateQcow2Async(string filename, Qcow2CreateOptions o, CancellationToken ct)
    {
        await FileCreator.CreateAsync(new FileCreateOptions { Filename = filename, Size = 0 }, ct).ConfigureAwait(false);
        if (o.DataFile is { } dataName)
        {
            await FileCreator.CreateAsync(new FileCreateOptions { Filename = FullBackingPath(dataName, filename), Size = 0 }, ct).ConfigureAwait(false);
        }
        var graph = ImageOpener.NewGraph();
        try
        {
            var file = await OpenFileAsync(graph, filename, ct).ConfigureAwait(false);
            var data = o.DataFile is { } name ? await OpenFileAsync(graph, FullBackingPath(name, filename), ct).ConfigureAwait(false) : null;
            await Qcow2Creator.CreateAsync(file, data, o, ct).ConfigureAwait(false);
            await file.FlushAsync(ct).ConfigureAwait(false);
        }
        finally
        {
            await graph.CloseAllAsync(ct).ConfigureAwait(false);
        }
    }

    private static async ValueTask<BlockChild> OpenFileAsync(BlockGraph graph, string filename, CancellationToken ct)
    {
        var options = new OptionDict();
        options.Set("driver", "file");
        options.Set("filename", filename);
        var node = await graph.AddNodeAsync(options, ct).ConfigureAwait(false);
        return graph.AttachUser(null, node, BlockPermissions.ConsistentRead | BlockPermissions.Write | BlockPermissions.Resize,
            BlockPermissions.ConsistentRead | BlockPermissions.WriteUnchanged).Root!;
    }
}
