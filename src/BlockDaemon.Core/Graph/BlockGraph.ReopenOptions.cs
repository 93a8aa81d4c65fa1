using System.Globalization;
using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Io;
using BlockDaemon.Core.Options;

namespace BlockDaemon.Core.Graph;

public sealed partial class BlockGraph
{
    private static readonly string[] CommonKeys = ["driver", "node-name", "read-only", "auto-read-only", "force-share", "discard", "detect-zeroes", "cache"];

    /// <summary>
    /// blockdev-reopen: each option set describes an existing node as it should be from now on;
    /// what a set leaves out goes back to its default. Changeable: read-only, auto-read-only,
    /// discard, detect-zeroes, the backing link and which existing node another child (file)
    /// is; a child the node created inline is reopened with it (and inherits its read-only), one
    /// added on its own is not. Every node is checked before anything changes, in qsd's order; a
    /// failure while applying undoes the steps already taken (a node that dropped out of a chain
    /// and was closed stays closed).
    /// </summary>
    public async ValueTask ReopenAsync(IReadOnlyList<OptionDict> optionSets, CancellationToken ct = default)
    {
        // qmp_blockdev_reopen drains each named node's subtree as it finds it, and ends the
        // drains (newest first) when the reopen is over, whether it worked or not.
        var paused = new List<List<Jobs.Job>>();
        try
        {
            await ReopenCoreAsync(optionSets, paused, ct).ConfigureAwait(false);
        }
        finally
        {
            for (int i = paused.Count - 1; i >= 0; i--)
            {
                ResumeJobs(paused[i]);
            }
        }
    }

    private async ValueTask ReopenCoreAsync(IReadOnlyList<OptionDict> optionSets, List<List<Jobs.Job>> paused, CancellationToken ct)
    {
        if (optionSets.Count == 0)
        {
            // qsd 7.2 aborts here; an empty list simply has nothing to do, but is surely a mistake.
            throw BlockException.Invalid("blockdev-reopen needs at least one set of node options");
        }
        var queue = new List<ReopenEntry>();
        foreach (var set in optionSets)
        {
            string name = set.GetString("node-name") ?? throw BlockException.Invalid("node-name not specified");
            var node = FindNode(name) ?? throw BlockException.Invalid($"Failed to find node with node-name='{name}'");
            paused.Add(await PauseJobsAsync(JobsAboveSubtree(node)).ConfigureAwait(false));
            QueueReopen(queue, node, set, parent: null, keepOld: false);
        }
        var plans = new List<ReopenPlan>();
        foreach (var entry in queue)
        {
            plans.Add(PlanReopen(entry, plans));
        }
        CheckReadOnlyUsers(plans);

        var undo = new Stack<Func<ValueTask>>();
        try
        {
            // Backing links last: dropping one may close a node, the one step that cannot be undone.
            foreach (var plan in plans.Where(p => p.ChildChanges.Count > 0))
            {
                await ApplyChildChangesAsync(plan, undo, ct).ConfigureAwait(false);
            }
            await ApplyReadOnlyAsync(plans, undo, ct).ConfigureAwait(false);
            foreach (var plan in plans.Where(p => p.ChangeBacking))
            {
                await ApplyBackingAsync(plan, undo, ct).ConfigureAwait(false);
            }
        }
        catch
        {
            while (undo.TryPop(out var step))
            {
                await step().ConfigureAwait(false);
            }
            throw;
        }
        foreach (var plan in plans)
        {
            var explicitOptions = plan.Explicit.Clone();
            foreach (var edge in plan.Node.Children)
            {
                explicitOptions.Remove(edge.Role);
            }
            explicitOptions.Remove("backing");
            plan.Node.ExplicitOptions = explicitOptions;
            if (!queue.First(e => e.Node == plan.Node).KeepOld)
            {
                // What the next reopen may not leave out is what this one gave.
                plan.Node.ReopenedOptionKeys = [.. plan.Explicit.Keys];
            }
        }
        await CloseDroppedChildrenAsync(plans, ct).ConfigureAwait(false);
    }

    private sealed record ReopenPlan(BlockNode Node, NodeOptions Common, bool ChangeBacking, BlockNode? Backing, OptionDict Explicit)
    {
        /// <summary>Children other than backing that the reopen points at another existing node.</summary>
        public List<(BlockChild Edge, BlockNode To)> ChildChanges { get; } = [];

        public List<BlockNode> DroppedChildren { get; } = [];
    }

    // Options the driver cannot take back to their defaults may not be left out (qsd's
    // bdrv_reset_options_allowed); the common ones and those each driver can change may.
    private static readonly string[] ResettableCommonKeys = ["node-name", "discard", "cache", "read-only", "auto-read-only", "detect-zeroes"];

    private static readonly Dictionary<string, string[]> MutableDriverOptions = new(StringComparer.Ordinal)
    {
        ["qcow2"] = ["lazy-refcounts", "pass-discard-request", "pass-discard-snapshot", "pass-discard-other", "overlap-check",
            "cache-size", "l2-cache-size", "l2-cache-entry-size", "refcount-cache-size", "cache-clean-interval"],
        ["raw"] = ["offset", "size"],
        ["file"] = ["x-check-cache-dropped"],
    };

    // Options a driver's reopen takes whatever their value: the file driver's page cache hints,
    // which matter only when an image is handed over (inactivated), which blockd never does.
    private static readonly Dictionary<string, string[]> OptionsTakenByReopen = new(StringComparer.Ordinal)
    {
        ["file"] = ["drop-cache", "x-check-cache-dropped"],
    };

    // bdrv_reopen_prepare's order: common options, reopen support, options left out, backing,
    // file, then every other option must be as it was.
    private ReopenPlan PlanReopen(ReopenEntry entry, IReadOnlyList<ReopenPlan> planned)
    {
        var node = entry.Node;
        var (common, driverOptions) = NodeOptions.Parse(entry.Explicit, entry.InheritFrom, reopen: true);
        if (!node.Driver.SupportsReopen)
        {
            throw BlockException.Invalid($"Block format '{node.DriverName}' used by node '{node.NodeName}' does not support reopening files");
        }
        var childRoles = node.Children.Select(c => c.Role).Where(r => r != "backing").ToHashSet();
        if (!entry.KeepOld)
        {
            var mutable = MutableDriverOptions.GetValueOrDefault(node.DriverName) ?? [];
            foreach (var key in node.ReopenedOptionKeys ?? node.FullOptions.Keys)
            {
                if (!entry.Explicit.Contains(key) && !ResettableCommonKeys.Contains(key) && !mutable.Contains(key)
                    && !childRoles.Contains(key) && key != "backing")
                {
                    throw BlockException.Invalid($"Option '{key}' cannot be reset to its default value");
                }
            }
        }
        var (changeBacking, backing) = entry.KeepOld ? (false, BackingOf(node)) : PlanBacking(node, driverOptions, "", planned);
        var plan = new ReopenPlan(node, common, changeBacking, backing, entry.Explicit);

        foreach (var edge in node.Children.Where(c => c.Role != "backing"))
        {
            if (!driverOptions.TryGet(edge.Role, out var given))
            {
                continue;
            }
            switch (given)
            {
                case string reference:
                    var target = FindNode(reference) ?? throw BlockException.Invalid($"Cannot find device='' nor node-name='{reference}'");
                    if (target != edge.Node)
                    {
                        PlanChildChange(plan, edge, target, [.. planned, plan]);
                    }
                    break;
                case OptionDict inline when !node.PassesOptionsTo(edge):
                    // Options for a node added on its own stay with the parent, which cannot take them.
                    throw CannotChange(edge.Role + "." + (inline.Contains("driver") ? "driver" : inline.Keys.FirstOrDefault() ?? "driver"));
            }
        }

        if (common.Driver != node.Common.Driver)
        {
            throw CannotChange("driver");
        }
        if (common.NodeName is { } givenName && givenName != node.NodeName)
        {
            throw CannotChange("node-name");
        }
        // qsd compares force-share as given (a boolean) with what it stored from its own parsing
        // (a string), so a set that mentions it always differs, whatever the value.
        if (entry.KeepOld ? common.ForceShare != node.Common.ForceShare : entry.Explicit.Contains("force-share"))
        {
            throw CannotChange("force-share");
        }
        // A file node's descriptor mode and request alignment are fixed at open; switching
        // O_DIRECT would mean a new open. Elsewhere cache.direct is only reported, and
        // cache.no-flush is read by the block layer at every flush, so both may change.
        if (common.CacheDirect != node.Common.CacheDirect && node.Driver is Drivers.File.FileDriver)
        {
            throw CannotChange("cache.direct");
        }

        // Driver options: none can change at run time, so any difference from the open is refused.
        var before = node.FullOptions.Clone();
        foreach (var key in CommonKeys.Concat(childRoles).Append("backing").Concat(OptionsTakenByReopen.GetValueOrDefault(node.DriverName) ?? []))
        {
            before.Remove(key);
            driverOptions.Remove(key);
        }
        foreach (var key in before.Keys.Union(driverOptions.Keys))
        {
            before.TryGet(key, out var old);
            driverOptions.TryGet(key, out var now);
            if (!SameOptionValue(old, now))
            {
                throw CannotChange(key);
            }
        }
        return plan;
    }

    private (bool Change, BlockNode? Backing) PlanBacking(BlockNode node, OptionDict driverOptions, string prefix, IReadOnlyList<ReopenPlan> planned)
    {
        var current = BackingOf(node);
        if (!driverOptions.TryGet("backing", out var given))
        {
            // Also once detached: the image still names a backing file that "omitted" would open.
            if (current is not null || (node.Driver as IImageInfoSource)?.GetImageInfo().BackingFileName is { Length: > 0 })
            {
                throw BlockException.Invalid($"backing is missing for '{node.NodeName}'");
            }
            return (false, null);
        }
        if (node.Driver is not IBackingLink)
        {
            throw BlockException.Invalid($"Parameter '{prefix}backing' is unexpected");
        }
        switch (given)
        {
            case null:
                if (current is null)
                {
                    return (false, null);
                }
                CheckBackingReplaceable(node, current);
                return (true, null);
            case string reference:
                var target = FindNode(reference) ?? throw BlockException.Invalid($"Cannot find device='' nor node-name='{reference}'");
                if (WouldCreateCycle(node, target, planned))
                {
                    throw BlockException.Invalid($"Making '{target.NodeName}' a backing child of '{node.NodeName}' would create a cycle");
                }
                if (target == current)
                {
                    return (false, current);
                }
                // The image under a job's implicit filter counts as the link's node (bdrv_skip_implicit_filters).
                if (current is not null && SkipImplicitFilters(current) == target)
                {
                    return (false, current);
                }
                if (current is not null)
                {
                    CheckBackingReplaceable(node, current);
                }
                return (true, target);
            case OptionDict when (node.Driver as IBackingLink)?.Backing is { } edge && node.PassesOptionsTo(edge):
                // The backing the node opened itself is reopened with these options (queued with it).
                return (false, current);
            case OptionDict inline:
                // A new node cannot be created by a reopen (QEMU refuses the same way).
                throw CannotChange(prefix + "backing." + (inline.Contains("driver") ? "driver" : inline.Keys.FirstOrDefault() ?? "driver"));
            default:
                throw BlockException.Invalid($"Invalid parameter type for '{prefix}backing', expected: BlockdevRef or null");
        }
    }

    // bdrv_reopen_parse_file_or_backing: a job's implicit filter and a frozen link stay.
    private static void CheckBackingReplaceable(BlockNode node, BlockNode current)
    {
        if (current.ImplicitFilter)
        {
            throw BlockException.Invalid($"Cannot replace implicit backing child of {node.NodeName}");
        }
        CheckNotFrozen(node, (node.Driver as IBackingLink)?.Backing);
    }

    private static BlockNode SkipImplicitFilters(BlockNode node)
    {
        while (node.ImplicitFilter && ChainNextOf(node) is { } below)
        {
            node = below;
        }
        return node;
    }

    private async ValueTask ApplyBackingAsync(ReopenPlan plan, Stack<Func<ValueTask>> undo, CancellationToken ct)
    {
        var node = plan.Node;
        var oldBacking = BackingOf(node);
        var oldOptions = node.FullOptions;
        await ReplaceBackingAsync(node, plan.Backing, ct).ConfigureAwait(false);
        // From now on the link is one the user chose, not the header's (it shows in file names).
        var options = oldOptions.Clone();
        options.Set("backing", plan.Backing?.NodeName);
        node.FullOptions = options;
        undo.Push(() =>
        {
            node.FullOptions = oldOptions;
            return ValueTask.CompletedTask;
        });
        if (oldBacking is null || _nodes.ContainsKey(oldBacking.NodeName))
        {
            undo.Push(() => ReplaceBackingAsync(node, oldBacking, CancellationToken.None));
        }
    }

    private static BlockException CannotChange(string option) => BlockException.Invalid($"Cannot change the option '{option}'");

    // Options from the command line arrive as strings ("on", "65536"), from QMP typed; both mean the same.
    private static bool SameOptionValue(object? a, object? b)
    {
        if (a is OptionDict || b is OptionDict)
        {
            if (a is not OptionDict left || b is not OptionDict right)
            {
                return false;
            }
            return left.Keys.Union(right.Keys).All(k =>
            {
                left.TryGet(k, out var x);
                right.TryGet(k, out var y);
                return SameOptionValue(x, y);
            });
        }
        return Scalar(a) == Scalar(b);
    }

    private static string? Scalar(object? value) => value switch
    {
        null => null,
        bool b => b ? "on" : "off",
        string s => s,
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString(),
    };
}
