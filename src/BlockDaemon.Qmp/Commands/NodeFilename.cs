using System.Text.Json.Nodes;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;
using BlockDaemon.Qmp.Wire;

namespace BlockDaemon.Qmp.Commands;

/// <summary>
/// The file name QEMU shows for a node (bdrv_refresh_filename): the plain name when opening
/// that name would rebuild the same tree, otherwise "json:{...}" built from the driver, its
/// "strong" options (those that change what the node reads) and its children's options.
/// Display only: we never write such names to disk.
/// </summary>
internal static class NodeFilename
{
    public static string For(BlockNode node) =>
        // An implicit node copies everything from its child; copy-before-write, snapshot-access,
        // commit_top and mirror_top show the name of the node they filter (cbw_refresh_filename,
        // snapshot_access_refresh_filename, bdrv_commit_top_refresh_filename, and
        // bdrv_refresh_filename taking mirror_top's filtered child's).
        Implicit(node) is { } child ? For(child)
        : node.DriverName is "copy-before-write" or "snapshot-access" && node.FindChild("file") is { } filtered ? For(filtered.Node)
        : node.DriverName is "commit_top" or "mirror_top" && node.FindChild("backing") is { } below ? For(below.Node)
        : NeedsJson(node) ? "json:" + QmpJsonWriter.Write(FullOptions(node))
        : PlainName(node);

    // bdrv_refresh_filename: a filter a job inserted without a name (bs->implicit) is invisible.
    private static BlockNode? Implicit(BlockNode node) =>
        node.ImplicitFilter && node.FilterChildRole is { } role && node.FindChild(role) is { } child ? child.Node : null;

    /// <summary>The node a filter passes its data to (QEMU's bdrv_filter_child) for the drivers whose queries follow it.</summary>
    internal static BlockNode? FilteredChild(BlockNode node) => node.DriverName switch
    {
        "copy-on-read" => node.FindChild("file")?.Node,
        "commit_top" or "mirror_top" => node.FindChild("backing")?.Node,
        _ => null,
    };

    /// <summary>
    /// QEMU keeps the plain name only if the node has no strong options, its backing child is
    /// the one its header names, and its primary ("file") child is a protocol node (one without
    /// children) that itself has a plain name. So raw over raw, or raw over qcow2, is json:.
    /// </summary>
    private static bool NeedsJson(BlockNode node)
    {
        if (StrongOptions(node).Count > 0 || BackingOverridden(node))
        {
            return true;
        }
        if (node.Children.Count == 0)
        {
            return false;
        }
        return node.FindChild("file") is not { } file || file.Node.Children.Count > 0 || NeedsJson(file.Node);
    }

    internal static string PlainName(BlockNode node) =>
        node.FindChild("file") is { } file ? PlainName(file.Node) : node.Driver.DisplayName;

    /// <summary>
    /// QEMU's full_open_options: strong options, the driver and every child's own full options;
    /// the backing child only when it is not the one the header names ("backing": null when the
    /// header names one but the node has none).
    /// </summary>
    private static JsonObject FullOptions(BlockNode node)
    {
        if (Implicit(node) is { } filtered)
        {
            return FullOptions(filtered);
        }
        var json = new JsonObject();
        foreach (var (key, value) in StrongOptions(node))
        {
            json[key] = value;
        }
        json["driver"] = node.DriverName;
        if (node.Children.Count == 0 && node.DriverName == "file")
        {
            json["filename"] = node.Driver.DisplayName;
        }
        // commit_top records no backing file name, so its link always counts as overridden.
        bool overridden = BackingOverridden(node) || node.DriverName == "commit_top";
        foreach (var child in node.Children)
        {
            if (child.Role != "backing" || overridden)
            {
                json[child.Role] = FullOptions(child.Node);
            }
        }
        if (overridden && node.FindChild("backing") is null)
        {
            json["backing"] = null;
        }
        return json;
    }

    /// <summary>
    /// QEMU's bdrv_backing_overridden. A backing node opened from the header is never
    /// overridden (QEMU then records its name as the header's); one given with the "backing"
    /// option is overridden when its file name differs from the header's string, taken
    /// literally, so a relative header name and the same file given by node differ.
    /// </summary>
    public static bool BackingOverridden(BlockNode node)
    {
        if (node.Driver is not IImageInfoSource source)
        {
            return false;
        }
        string header = source.GetImageInfo().BackingFileName ?? "";
        if (node.FindChild("backing") is not { } backing)
        {
            return header.Length > 0;
        }
        return node.FullOptions.Contains("backing") && header != For(backing.Node);
    }

    private static List<KeyValuePair<string, JsonNode?>> StrongOptions(BlockNode node)
    {
        string[] keys = node.DriverName switch
        {
            "null-co" => ["size", "read-zeroes"],
            "raw" => ["offset", "size"],
            _ => [],
        };
        var options = OptionConverter.ToJson(node.FullOptions);
        return keys.Where(options.ContainsKey)
            .Select(k => new KeyValuePair<string, JsonNode?>(k, options[k]?.DeepClone()))
            .ToList();
    }
}
