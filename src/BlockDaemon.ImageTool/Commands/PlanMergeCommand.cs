using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.ImageTool.Cli;
using BlockDaemon.Qmp.Commands;

namespace BlockDaemon.ImageTool.Commands;

/// <summary>
/// `plan-merge [-f FMT] [--output=human|json] [-U] --remove-point N FILENAME` (blockimg's own):
/// how many bytes a stream and a commit would move to remove point N from the chain of
/// FILENAME, without changing anything. Points count from the base (0) to FILENAME itself
/// (the top); see <see cref="MergePlan"/> for what each way copies.
/// </summary>
public static class PlanMergeCommand
{
    private static readonly OptionSpec[] Specs =
    [
        CommandLine.FormatOption,
        CommandLine.OutputOption,
        new('n', "remove-point", true, "point"),
        CommandLine.ForceShareOption,
        CommandLine.HelpOption,
    ];

    public static async ValueTask<int> RunAsync(IReadOnlyList<string> args, TextWriter stdout, CancellationToken ct)
    {
        if (CommandLine.ParseOrHelp(args, Specs, stdout) is not { } opts)
        {
            return 0;
        }
        var format = Output.Parse(opts.Last("output"));
        if (opts.Last("point") is not { } pointText)
        {
            throw ToolException.UsageError("Expecting --remove-point N");
        }
        if (!int.TryParse(pointText, NumberStyles.None, CultureInfo.InvariantCulture, out int point))
        {
            throw new ToolException($"Invalid point '{pointText}': expecting a number (0 is the base image)");
        }
        string filename = CommandLine.OneImage(opts);
        await using var image = await ImageOpener.OpenAsync(filename, opts.Last("f"), CommandLine.ReadMode(opts), ct).ConfigureAwait(false);
        var chain = MergePlan.Chain(image.Root);
        MergePlan plan;
        try
        {
            plan = await MergePlan.ComputeAsync(image.Root, point, ct).ConfigureAwait(false);
        }
        catch (BlockException e)
        {
            throw new ToolException(e.Message);
        }
        var names = chain.Select(e => NodeFilename.For(e.Node)).ToList();
        string cheaper = !plan.Stream.Possible ? "commit" : !plan.Commit.Possible ? "stream"
            : plan.Stream.DataBytes < plan.Commit.DataBytes ? "stream"
            : plan.Commit.DataBytes < plan.Stream.DataBytes ? "commit" : "either";
        if (format == OutputFormat.Json)
        {
            var json = new JsonObject
            {
                ["image"] = names[point],
                ["point"] = point,
                ["points"] = plan.Points,
                ["stream"] = Cost(plan.Stream, point + 1 < names.Count ? names[point + 1] : null),
                ["commit"] = Cost(plan.Commit, point > 0 ? names[point - 1] : null),
                ["cheaper"] = cheaper,
            };
            Output.WriteJson(stdout, json);
            return 0;
        }
        var sb = new StringBuilder($"Chain of {image.Filename}, base first:\n");
        for (int i = 0; i < names.Count; i++)
        {
            sb.Append($"  point {i}: {names[i]}{(i == names.Count - 1 ? " (top)" : "")}\n");
        }
        sb.Append($"Removing point {point} ({names[point]}):\n");
        sb.Append("  stream ").Append(plan.Stream.Possible ? $"into point {point + 1} ({names[point + 1]}): {Describe(plan.Stream)}" : "not possible: nothing above the top image").Append('\n');
        sb.Append("  commit ").Append(plan.Commit.Possible ? $"into point {point - 1} ({names[point - 1]}): {Describe(plan.Commit)}" : "not possible: nothing below the base image").Append('\n');
        sb.Append($"Cheaper: {cheaper}\n");
        stdout.Write(sb.ToString());
        return 0;
    }

    private static JsonObject Cost(MergeCost cost, string? into)
    {
        var json = new JsonObject { ["possible"] = cost.Possible };
        if (cost.Possible)
        {
            json["into"] = into;
            json["data-bytes"] = cost.DataBytes;
            json["zero-bytes"] = cost.ZeroBytes;
        }
        return json;
    }

    private static string Describe(MergeCost cost) =>
        $"{cost.DataBytes} bytes of data ({Sizes.Human(cost.DataBytes)}), {cost.ZeroBytes} bytes of zeroes";
}
