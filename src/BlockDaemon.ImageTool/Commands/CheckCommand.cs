using System.Globalization;
using System.Text.Json.Nodes;
using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Options;
using BlockDaemon.ImageTool.Cli;
using BlockDaemon.Qcow2.Check;

namespace BlockDaemon.ImageTool.Commands;

/// <summary>
/// `check [-f FMT] [--output=human|json] [-r leaks|all] [-q] [-U] FILENAME`: qemu-img check's
/// report and exit codes (0 clean, 1 check failed, 2 corruptions, 3 only leaks) over the
/// daemon's qcow2 checker, which reads the image file directly so a corrupt image can be checked.
/// </summary>
public static class CheckCommand
{
    private static readonly OptionSpec[] Specs =
    [
        CommandLine.FormatOption,
        CommandLine.OutputOption,
        new('r', "repair", true, "r"),
        new('T', "cache", true, "T"),
        new('q', "quiet", false, "q"),
        CommandLine.ForceShareOption,
        CommandLine.HelpOption,
    ];

    private enum Repair
    {
        None,
        Leaks,
        All,
    }

    public static async ValueTask<int> RunAsync(IReadOnlyList<string> args, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        if (CommandLine.ParseOrHelp(args, Specs, stdout) is not { } opts)
        {
            return 0;
        }
        var repair = opts.Last("r") switch
        {
            null => Repair.None,
            "leaks" => Repair.Leaks,
            "all" => Repair.All,
            _ => throw ToolException.UsageError("Invalid option for -r (expecting 'leaks' or 'all')"),
        };
        var format = Output.Parse(opts.Last("output"));
        bool quiet = opts.Has("q");
        string filename = CommandLine.OneImage(opts);
        if (repair != Repair.None && opts.Has("U"))
        {
            throw new ToolException("--force-share/-U is not allowed with -r");
        }
        string? fmt = opts.Last("f");
        ImageOpener.CheckFormat(fmt);
        fmt ??= ImageOpener.Probe(filename);
        await using var file = await OpenFileAsync(filename, repair != Repair.None, opts.Has("U"), ct).ConfigureAwait(false);
        if (fmt != "qcow2")
        {
            throw new ToolException("This image format does not support checks", 63);
        }
        Qcow2CheckResult result;
        try
        {
            result = await Qcow2Checker.CheckLikeQemuAsync(file.Edge, fixLeaks: repair != Repair.None, fixErrors: repair == Repair.All, ct).ConfigureAwait(false);
        }
        catch (BlockException e)
        {
            throw new ToolException($"Check failed: {e.Message}");
        }
        foreach (string message in result.Messages)
        {
            stderr.Write(message + "\n");
        }
        if (result.Failure is { } failure)
        {
            throw new ToolException($"Check failed: {failure}");
        }
        var after = result;
        if (result.CorruptionsFixed > 0 || result.LeaksFixed > 0)
        {
            if (format == OutputFormat.Human && !quiet)
            {
                stdout.Write($"The following inconsistencies were found and repaired:\n\n    {result.LeaksFixed} leaked clusters\n    {result.CorruptionsFixed} corruptions\n\nDouble checking the fixed image now...\n");
            }
            after = await Qcow2Checker.CheckLikeQemuAsync(file.Edge, fixLeaks: false, fixErrors: false, ct).ConfigureAwait(false);
            foreach (string message in after.Messages)
            {
                stderr.Write(message + "\n");
            }
            after = after with { LeaksFixed = result.LeaksFixed, CorruptionsFixed = result.CorruptionsFixed };
        }
        if (format == OutputFormat.Json)
        {
            Output.WriteJson(stdout, Json(after, filename));
        }
        else if (!quiet)
        {
            stdout.Write(HumanReport(after));
        }
        return after.Corruptions > 0 ? 2 : after.Leaks > 0 ? 3 : 0;
    }

    private sealed class FileHandle(BlockGraph graph, BlockChild edge) : IAsyncDisposable
    {
        public BlockChild Edge => edge;

        public ValueTask DisposeAsync() => graph.CloseAllAsync();
    }

    private static async ValueTask<FileHandle> OpenFileAsync(string filename, bool writable, bool forceShare, CancellationToken ct)
    {
        var graph = ImageOpener.NewGraph();
        try
        {
            var options = new OptionDict();
            options.Set("driver", "file");
            options.Set("filename", filename);
            options.Set("read-only", !writable);
            var node = await graph.AddNodeAsync(options, ct).ConfigureAwait(false);
            var perm = BlockPermissions.ConsistentRead | (writable ? BlockPermissions.Write | BlockPermissions.Resize : BlockPermissions.None);
            var shared = forceShare ? BlockPermissions.All : BlockPermissions.ConsistentRead | BlockPermissions.WriteUnchanged;
            return new FileHandle(graph, graph.AttachUser(null, node, perm, shared).Root!);
        }
        catch (BlockException e)
        {
            await graph.CloseAllAsync(ct).ConfigureAwait(false);
            throw new ToolException($"Could not open '{filename}': {e.Message}");
        }
    }

    /// <summary>ImageCheck: counts that are zero are left out, as qemu-img leaves them out.</summary>
    public static JsonObject Json(Qcow2CheckResult r, string filename)
    {
        var json = new JsonObject
        {
            ["filename"] = filename,
            ["format"] = "qcow2",
            ["check-errors"] = 0,
        };
        void Optional(string key, long value)
        {
            if (value != 0)
            {
                json[key] = value;
            }
        }
        Optional("corruptions", r.Corruptions);
        Optional("leaks", r.Leaks);
        Optional("corruptions-fixed", r.CorruptionsFixed);
        Optional("leaks-fixed", r.LeaksFixed);
        Optional("image-end-offset", r.ImageEndOffset);
        Optional("total-clusters", r.TotalClusters);
        Optional("allocated-clusters", r.GuestAllocatedClusters);
        Optional("fragmented-clusters", r.FragmentedClusters);
        Optional("compressed-clusters", r.CompressedClusters);
        return json;
    }

    public static string HumanReport(Qcow2CheckResult r)
    {
        var sb = new System.Text.StringBuilder();
        if (r.IsClean)
        {
            sb.Append("No errors were found on the image.\n");
        }
        else
        {
            if (r.Corruptions > 0)
            {
                sb.Append($"\n{r.Corruptions} errors were found on the image.\nData may be corrupted, or further writes to the image may corrupt it.\n");
            }
            if (r.Leaks > 0)
            {
                sb.Append($"\n{r.Leaks} leaked clusters were found on the image.\nThis means waste of disk space, but no harm to data.\n");
            }
        }
        if (r.TotalClusters != 0 && r.GuestAllocatedClusters != 0)
        {
            sb.Append(string.Format(CultureInfo.InvariantCulture, "{0}/{1} = {2:F2}% allocated, {3:F2}% fragmented, {4:F2}% compressed clusters\n",
                r.GuestAllocatedClusters, r.TotalClusters,
                r.GuestAllocatedClusters * 100.0 / r.TotalClusters,
                r.FragmentedClusters * 100.0 / r.GuestAllocatedClusters,
                r.CompressedClusters * 100.0 / r.GuestAllocatedClusters));
        }
        if (r.ImageEndOffset != 0)
        {
            sb.Append($"Image end offset: {r.ImageEndOffset}\n");
        }
        return sb.ToString();
    }
}
