using System.Text.Json.Nodes;
using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;
using BlockDaemon.Core.Options;
using BlockDaemon.Qmp.Commands;

namespace BlockDaemon.Qmp.Transactions;

/// <summary>
/// blockdev-snapshot-sync and blockdev-snapshot (QEMU's external_snapshot_*): the old top
/// becomes the backing node of an overlay, which takes over every parent of the old top.
/// Prepare checks in qsd's order and does the pivot with both nodes drained; commit turns the
/// old top read-only; abort pivots back, closes an overlay it opened and removes a file it
/// created (qsd keeps such files); clean ends the drains.
/// </summary>
public sealed class ExternalSnapshotAction : ITransactionAction
{
    private readonly TransactionContext _tx;
    private readonly string _type;
    private readonly string? _device;
    private readonly string? _nodeName;
    private readonly string? _overlayReference;
    private readonly JsonObject _data;
    private BlockNode? _oldTop;
    private BlockNode? _overlay;
    private bool _oldTopDrained;
    private DrainedSection? _oldTopDrain;
    private DrainedSection? _overlayDrain;
    private bool _overlayDrained;
    private bool _overlayOpened;
    private bool _appended;
    private string? _createdFile;

    private ExternalSnapshotAction(TransactionContext tx, string type, string? device, string? nodeName, string? overlay, JsonObject data)
    {
        _tx = tx;
        _type = type;
        _device = device;
        _nodeName = nodeName;
        _overlayReference = overlay;
        _data = data;
    }

    public static ExternalSnapshotAction FromBlockdevSnapshot(TransactionContext tx, JsonObject data)
    {
        string node = data["node"]!.GetValue<string>();
        return new(tx, "blockdev-snapshot", node, node, data["overlay"]!.GetValue<string>(), data);
    }

    public static ExternalSnapshotAction FromBlockdevSnapshotSync(TransactionContext tx, JsonObject data) =>
        new(tx, "blockdev-snapshot-sync", data["device"]?.GetValue<string>(), data["node-name"]?.GetValue<string>(), null, data);

    public async ValueTask PrepareAsync(CancellationToken ct)
    {
        _tx.RequireIndividualCompletion(_type);
        var graph = _tx.Graph;
        var oldTop = Lookup(graph, _device, _nodeName);
        _oldTopDrain = await graph.DrainedBeginAsync(oldTop, ct).ConfigureAwait(false);
        _oldTop = oldTop;
        _oldTopDrained = true;
        // qsd names the newest op blocker: a job's comes after the backing link it found.
        CheckNotBlocked(oldTop);
        if (oldTop.BackingOverlay is { } above)
        {
            throw QmpException.Generic($"Node '{oldTop.NodeName}' is busy: node is used as backing hd of '{above.NodeName}'");
        }
        if (!oldTop.ReadOnly)
        {
            try
            {
                // Drained: the driver is called directly, the node's own front door is closed.
                await oldTop.Driver.FlushAsync(ct).ConfigureAwait(false);
            }
            catch (BlockException)
            {
                throw QmpException.Generic("An IO error has occurred");
            }
        }
        var overlay = _overlayReference is { } reference
            ? graph.FindNode(reference) ?? throw QmpException.Generic($"Cannot find device='{reference}' nor node-name='{reference}'")
            : await OpenNewOverlayAsync(graph, oldTop, ct).ConfigureAwait(false);
        _overlay = overlay;
        CheckOverlay(overlay, oldTop);
        _overlayDrain = await graph.DrainedBeginAsync(overlay, ct).ConfigureAwait(false);
        _overlayDrained = true;
        try
        {
            graph.AppendOverlay(overlay, oldTop);
        }
        catch (BlockException e)
        {
            throw QmpErrors.From(e);
        }
        _appended = true;
    }

    // The blockdev-snapshot-sync half of prepare: names, then the file, then the node.
    private async ValueTask<BlockNode> OpenNewOverlayAsync(BlockGraph graph, BlockNode oldTop, CancellationToken ct)
    {
        string file = _data["snapshot-file"]!.GetValue<string>();
        string? overlayName = _data["snapshot-node-name"]?.GetValue<string>();
        string format = _data["format"]?.GetValue<string>() ?? "qcow2";
        bool existing = _data["mode"]?.GetValue<string>() == "existing";
        if (_nodeName is not null && overlayName is null)
        {
            throw QmpException.Generic("New overlay node-name missing");
        }
        if (overlayName is not null && (graph.FindNode(overlayName) is not null || graph.Users.Any(u => u.Name == overlayName)))
        {
            throw QmpException.Generic("New overlay node-name already in use");
        }
        if (!existing)
        {
            OverlayImage.CheckFormat(graph, format);
        }
        try
        {
            // qsd finds a malformed name only when it opens the image it has just created.
            if (overlayName is not null)
            {
                graph.CheckNewNodeName(overlayName);
            }
            if (!existing)
            {
                OverlayImage.CheckTarget(graph, file, oldTop);
                await OverlayImage.CreateFileAsync(file, ct).ConfigureAwait(false);
                // Only a file this action made is removed on abort, never one that was refused.
                _createdFile = file;
                await OverlayImage.FormatAsync(graph, file, oldTop, ct).ConfigureAwait(false);
            }
            var options = new OptionDict();
            options.Set("driver", format);
            if (overlayName is not null)
            {
                options.Set("node-name", overlayName);
            }
            if (oldTop.ReadOnly)
            {
                options.Set("read-only", true);
            }
            var fileOptions = new OptionDict();
            fileOptions.Set("driver", "file");
            fileOptions.Set("filename", file);
            options.Set("file", fileOptions);
            // The backing node is the old top, attached below; the header's name is not followed.
            if (format == "qcow2")
            {
                options.Set("backing", null);
            }
            var overlay = await graph.AddUnownedNodeAsync(options, ct).ConfigureAwait(false);
            _overlayOpened = true;
            return overlay;
        }
        catch (BlockException e)
        {
            throw QmpErrors.From(e);
        }
    }

    private static void CheckOverlay(BlockNode overlay, BlockNode oldTop)
    {
        // Only parents that never read what the overlay shows may be there already (a mirror target).
        if ((overlay.CumulativePerm & BlockPermissions.ConsistentRead) != 0)
        {
            throw QmpException.Generic("The overlay is already in use");
        }
        if (overlay.Driver is IFilterDriver)
        {
            throw QmpException.Generic("Filters cannot be used as overlays");
        }
        if (overlay.FindChild("backing") is not null)
        {
            throw QmpException.Generic("The overlay already has a backing image");
        }
        if (overlay.Driver is not IBackingLink)
        {
            throw QmpException.Generic("The overlay does not support backing images");
        }
        if (ReferenceEquals(overlay, oldTop) || BlockGraph.IsBelow(oldTop, overlay))
        {
            throw QmpException.Generic($"Making '{oldTop.NodeName}' a backing child of '{overlay.NodeName}' would create a cycle");
        }
    }

    /// <summary>QEMU's op blockers: a block job using the node refuses snapshots of it.</summary>
    internal static void CheckNotBlocked(BlockNode node)
    {
        try
        {
            node.CheckNotBlocked();
        }
        catch (BlockException e)
        {
            throw QmpErrors.From(e);
        }
    }

    /// <summary>QEMU's bdrv_lookup_bs: a named backend's root by device, else a node by node-name.</summary>
    internal static BlockNode Lookup(BlockGraph graph, string? device, string? nodeName)
    {
        if (device is not null && graph.Users.FirstOrDefault(u => u.Name == device && u.Root is not null) is { } user)
        {
            return user.Root!.Node;
        }
        if (nodeName is not null && graph.FindNode(nodeName) is { } node)
        {
            return node;
        }
        throw QmpException.Generic($"Cannot find device='{device ?? ""}' nor node-name='{nodeName ?? ""}'");
    }

    public async ValueTask CommitAsync(CancellationToken ct)
    {
        try
        {
            await _tx.Graph.MakeReadOnlyAsync(_oldTop!, ct).ConfigureAwait(false);
        }
        catch (BlockException)
        {
            // As in qsd: the snapshot stands even if the old top cannot be made read-only.
        }
    }

    public async ValueTask AbortAsync(CancellationToken ct)
    {
        if (_appended)
        {
            _tx.Graph.RemoveOverlay(_overlay!, _oldTop!);
            _appended = false;
        }
        if (_overlayOpened)
        {
            if (_overlayDrained)
            {
                _overlayDrain!.End();
                _overlayDrained = false;
            }
            await _tx.Graph.DiscardNodeAsync(_overlay!, ct).ConfigureAwait(false);
            _overlayOpened = false;
        }
        if (_createdFile is { } file)
        {
            OverlayImage.Remove(file);
            _createdFile = null;
        }
    }

    public async ValueTask CleanAsync(CancellationToken ct)
    {
        if (_overlayDrained)
        {
            _overlayDrain!.End();
            _overlayDrained = false;
        }
        if (_oldTopDrained)
        {
            _oldTopDrain!.End();
            _oldTopDrained = false;
        }
        // In qsd the new overlay lives only as long as someone uses it: an old top without
        // parents (no export, no other node) leaves its overlay closed right away, the file made
        // and the old top read-only.
        if (_overlayOpened && _appended && _overlay!.Parents.Count == 0)
        {
            await _tx.Graph.DiscardNodeAsync(_overlay, ct).ConfigureAwait(false);
        }
    }
}
