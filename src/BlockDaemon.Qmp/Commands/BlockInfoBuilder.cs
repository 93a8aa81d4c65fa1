using System.Text.Json.Nodes;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;

namespace BlockDaemon.Qmp.Commands;

/// <summary>BlockDeviceInfo and XDbgBlockGraph, shaped exactly as qsd 7.2 returns them.</summary>
internal static class BlockInfoBuilder
{
    /// <summary>
    /// One node as query-named-block-nodes and query-block describe it. Unless
    /// <paramref name="flat"/>, the image carries the backing chain and backing_file_depth counts it.
    /// </summary>
    public static JsonObject DeviceInfo(BlockNode node, bool flat = false)
    {
        var info = new JsonObject
        {
            ["file"] = NodeFilename.For(node),
            ["node-name"] = node.NodeName,
            ["ro"] = node.ReadOnly,
            ["drv"] = node.DriverName,
            ["backing_file_depth"] = flat ? 0 : BackingDepth(node),
            ["encrypted"] = false,
            ["detect_zeroes"] = node.Common.DetectZeroes.ToString().ToLowerInvariant(),
            ["bps"] = 0,
            ["bps_rd"] = 0,
            ["bps_wr"] = 0,
            ["iops"] = 0,
            ["iops_rd"] = 0,
            ["iops_wr"] = 0,
            ["image"] = ImageInfoBuilder.Image(node, flat),
            ["cache"] = new JsonObject
            {
                ["writeback"] = true,
                ["direct"] = node.Common.CacheDirect,
                ["no-flush"] = node.Common.CacheNoFlush,
            },
            ["write_threshold"] = node.WriteThreshold,
        };
        if (node.DirtyBitmaps.Count > 0)
        {
            info["dirty-bitmaps"] = DirtyBitmapInfo(node);
        }
        // The backing node's current file name, not the header's string (that is image.backing-filename).
        // A filter's "backing" child (mirror_top's, commit_top's) is the node it filters: qsd names only a header's backing file here.
        if (node.FindChild("backing") is { } backing && node.Driver is not Core.Io.IFilterDriver)
        {
            info["backing_file"] = NodeFilename.For(backing.Node);
        }
        return info;
    }

    // BlockDirtyInfo as bdrv_query_dirty_bitmaps fills it: "inconsistent" only when true.
    private static JsonArray DirtyBitmapInfo(BlockNode node)
    {
        var list = new JsonArray();
        foreach (var bitmap in node.DirtyBitmaps)
        {
            var info = new JsonObject
            {
                ["count"] = bitmap.Count,
                ["granularity"] = bitmap.Granularity,
                ["recording"] = bitmap.Recording,
                ["busy"] = bitmap.Busy,
                ["persistent"] = bitmap.Persistent,
            };
            if (bitmap.Name is { } name)
            {
                info["name"] = name;
            }
            if (bitmap.Inconsistent)
            {
                info["inconsistent"] = true;
            }
            list.Add((JsonNode)info);
        }
        return list;
    }

    // bdrv_block_device_info counts every filtered or backing child down the chain.
    private static int BackingDepth(BlockNode node)
    {
        int depth = 0;
        for (var below = ImageInfoBuilder.FilteredOrBacking(node); below is not null; below = ImageInfoBuilder.FilteredOrBacking(below))
        {
            depth++;
        }
        return depth;
    }

    /// <summary>Ids in creation order (users first, as QEMU visits backends first); lists newest first.</summary>
    public static JsonObject Graph(BlockGraph graph)
    {
        var ids = new Dictionary<object, long>(ReferenceEqualityComparer.Instance);
        long Id(object vertex) => ids.TryGetValue(vertex, out long id) ? id : ids[vertex] = ids.Count + 1;
        var nodes = new List<JsonNode>();
        var edges = new List<JsonNode>();
        foreach (var user in graph.Users)
        {
            nodes.Add(new JsonObject { ["id"] = Id(user), ["type"] = "block-backend", ["name"] = user.Name ?? "" });
            if (user.Root is { } root)
            {
                edges.Add(Edge(Id(user), Id(root.Node), root));
            }
        }
        foreach (var node in graph.Nodes)
        {
            nodes.Add(new JsonObject { ["id"] = Id(node), ["type"] = "block-driver", ["name"] = node.NodeName });
            // QEMU keeps children newest first (QLIST_INSERT_HEAD): backing before file.
            for (int i = node.Children.Count - 1; i >= 0; i--)
            {
                var child = node.Children[i];
                edges.Add(Edge(Id(node), Id(child.Node), child));
            }
        }
        nodes.Reverse();
        edges.Reverse();
        return new JsonObject { ["nodes"] = new JsonArray([.. nodes]), ["edges"] = new JsonArray([.. edges]) };
    }

    private static JsonObject Edge(long parent, long child, BlockChild edge) => new()
    {
        ["parent"] = parent,
        ["child"] = child,
        ["name"] = edge.Role,
        ["perm"] = Permissions(edge.Perm),
        ["shared-perm"] = Permissions(edge.Shared),
    };

    // QEMU prepends each permission, so the list comes out highest bit first.
    private static JsonArray Permissions(BlockPermissions perms) => new(BlockPermissionsExtensions.Bits
        .Where(b => b != BlockPermissions.GraphMod && (perms & b) != 0)
        .Reverse()
        .Select(b => (JsonNode)b.SchemaName())
        .ToArray());
}
