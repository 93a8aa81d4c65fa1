using System.Collections;
using System.Text.Json.Nodes;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;

namespace BlockDaemon.Qmp.Commands;

/// <summary>
/// ImageInfo (the "image" member of BlockDeviceInfo), shaped as qsd 7.2's bdrv_query_image_info
/// and bdrv_block_device_info fill it. Format drivers describe their image through
/// <see cref="IImageInfoSource"/>; everything about the chain comes from the graph.
/// </summary>
internal static class ImageInfoBuilder
{
    /// <summary>The image of <paramref name="node"/>; unless <paramref name="flat"/>, with the backing chain nested in backing-image.</summary>
    public static JsonObject Image(BlockNode node, bool flat)
    {
        string filename = NodeFilename.For(node);
        var image = new JsonObject
        {
            ["filename"] = filename,
            ["format"] = node.DriverName,
            ["virtual-size"] = node.Length,
        };
        if (AllocatedBytes(node) is { } allocated)
        {
            image["actual-size"] = allocated;
        }
        // bdrv_get_info: qcow2 answers itself, file answers "clean", raw asks its file child.
        if (GetInfo(node) is { } answer)
        {
            if (answer.ClusterSize is { } clusterSize && clusterSize > 0)
            {
                image["cluster-size"] = clusterSize;
            }
            image["dirty-flag"] = answer.Dirty;
        }
        var info = (node.Driver as IImageInfoSource)?.GetImageInfo();
        if (info?.FormatSpecificType is { } type)
        {
            image["format-specific"] = new JsonObject
            {
                ["type"] = type,
                ["data"] = Members(info.FormatSpecific),
            };
        }
        // backing-filename is the header's string even when "backing" replaced or removed the node.
        if (info?.BackingFileName is { Length: > 0 } backingName)
        {
            image["backing-filename"] = backingName;
            if (FullBackingFilename(node, backingName) is { } full)
            {
                image["full-backing-filename"] = full;
            }
            if (info.BackingFormat is { Length: > 0 } backingFormat)
            {
                image["backing-filename-format"] = backingFormat;
            }
        }
        if (info?.Snapshots is { Count: > 0 } snapshots)
        {
            image["snapshots"] = new JsonArray([.. snapshots.Select(Snapshot)]);
        }
        if (!flat && FilteredOrBacking(node) is { } below)
        {
            image["backing-image"] = Image(below, flat: false);
        }
        return image;
    }

    /// <summary>QEMU's bdrv_filter_or_cow_bs, for the filters whose queries qsd walks through.</summary>
    internal static BlockNode? FilteredOrBacking(BlockNode node) =>
        NodeFilename.FilteredChild(node) ?? node.FindChild("backing")?.Node;

    /// <summary>
    /// bdrv_get_allocated_file_size: a format node with no callback of its own (qcow2) sums the
    /// children that hold its data or metadata (file, data-file), never the backing chain.
    /// </summary>
    private static long? AllocatedBytes(BlockNode node)
    {
        // A filter without its own answer reports the node it filters.
        if (NodeFilename.FilteredChild(node) is { } filtered)
        {
            return AllocatedBytes(filtered);
        }
        if (node.Driver is not IImageInfoSource)
        {
            return node.Driver.AllocatedBytes;
        }
        long sum = 0;
        foreach (var child in node.Children.Where(c => c.Role != "backing"))
        {
            if (AllocatedBytes(child.Node) is not { } bytes)
            {
                return null;
            }
            sum += bytes;
        }
        return sum;
    }

    private static (int? ClusterSize, bool Dirty)? GetInfo(BlockNode node)
    {
        if (node.Driver is IImageInfoSource source)
        {
            var info = source.GetImageInfo();
            return (info.ClusterSize, info.DirtyFlag ?? false);
        }
        return node.DriverName switch
        {
            "file" => (null, false),
            "raw" => node.FindChild("file") is { } file ? GetInfo(file.Node) : null,
            // A filter without its own answer passes the question to the node it filters.
            "copy-before-write" => node.FindChild("file") is { } filtered ? GetInfo(filtered.Node) : null,
            "copy-on-read" or "commit_top" or "mirror_top" => NodeFilename.FilteredChild(node) is { } below ? GetInfo(below) : null,
            _ => null,
        };
    }

    /// <summary>
    /// bdrv_get_full_backing_filename: absolute names and names with a protocol prefix stay as
    /// they are; others are taken relative to the directory of the node's primary file.
    /// </summary>
    private static string? FullBackingFilename(BlockNode node, string backingName)
    {
        if (backingName.StartsWith('/') || HasProtocol(backingName))
        {
            return backingName;
        }
        return Dirname(node) is { } dir ? dir + backingName : null;
    }

    // bdrv_dirname: follow the primary child down to a protocol node, then path_combine(name, "").
    private static string? Dirname(BlockNode node)
    {
        if (node.FindChild("file") is { } file)
        {
            return Dirname(file.Node);
        }
        if (node.Children.Count > 0 || node.DriverName != "file")
        {
            return null;
        }
        string name = NodeFilename.For(node);
        int colon = name.IndexOf(':', StringComparison.Ordinal) + 1;
        int slash = name.LastIndexOf('/') + 1;
        return name[..Math.Max(colon, slash)];
    }

    // QEMU's path_has_protocol: a ':' before any '/'.
    private static bool HasProtocol(string path)
    {
        int colon = path.IndexOf(':', StringComparison.Ordinal);
        int slash = path.IndexOf('/', StringComparison.Ordinal);
        return colon >= 0 && (slash < 0 || colon < slash);
    }

    internal static JsonObject Snapshot(ImageSnapshot snapshot)
    {
        var json = new JsonObject
        {
            ["id"] = snapshot.Id,
            ["name"] = snapshot.Name,
            ["vm-state-size"] = snapshot.VmStateSize,
            ["date-sec"] = snapshot.DateSeconds,
            ["date-nsec"] = snapshot.DateNanoseconds,
            ["vm-clock-sec"] = snapshot.VmClockNanoseconds / 1_000_000_000,
            ["vm-clock-nsec"] = snapshot.VmClockNanoseconds % 1_000_000_000,
        };
        if (snapshot.IcountInstructions is { } icount)
        {
            json["icount"] = icount;
        }
        return json;
    }

    private static JsonObject Members(IEnumerable<KeyValuePair<string, object?>> pairs)
    {
        var json = new JsonObject();
        foreach (var (key, value) in pairs)
        {
            json[key] = Value(value);
        }
        return json;
    }

    // Driver values: string, integers, bool, a list of name/value pairs (an object), or a list
    // of values (an array, e.g. the bitmaps, each itself a list of pairs, or their flags).
    private static JsonNode? Value(object? value) => value switch
    {
        null => null,
        string s => JsonValue.Create(s),
        bool b => JsonValue.Create(b),
        int i => JsonValue.Create(i),
        long l => JsonValue.Create(l),
        ulong u => JsonValue.Create(u),
        IEnumerable<KeyValuePair<string, object?>> pairs => Members(pairs),
        IEnumerable items => new JsonArray([.. items.Cast<object?>().Select(Value)]),
        _ => JsonValue.Create(value.ToString()),
    };
}
