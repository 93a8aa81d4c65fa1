using System.Text.Json.Nodes;
using BlockDaemon.TestKit;

namespace BlockDaemon.ImageTool.Tests;

/// <summary>How one tool run ended, with the program's name taken out of its messages.</summary>
public sealed record Run(int ExitCode, string Stdout, string Stderr)
{
    public override string ToString() => $"exit {ExitCode}\n--- stdout ---\n{Stdout}\n--- stderr ---\n{Stderr}";
}

/// <summary>Runs blockimg (in process) and qemu-img (as a process) on the same arguments.</summary>
public static class Tools
{
    public static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static async Task<Run> BlockimgAsync(params string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        int code = await ImageTool.RunAsync(args, stdout, stderr, Ct);
        return new Run(code, stdout.ToString(), stderr.ToString().Replace("blockimg", "PROG", StringComparison.Ordinal));
    }

    public static async Task<Run> QemuImgAsync(params string[] args)
    {
        var result = await ExternalTools.TryRunAsync(ExternalTools.QemuImg, args, ExternalTools.DefaultTimeout, Ct);
        return new Run(result.ExitCode, result.Stdout, result.Stderr.Replace("qemu-img", "PROG", StringComparison.Ordinal));
    }

    /// <summary>Runs a helper tool (qemu-img, qemu-io) that must succeed, to build a test image.</summary>
    public static Task Setup(string tool, params string[] args) => ExternalTools.RunAsync(tool, args, Ct);

    public static Task Io(string image, params string[] commands) =>
        Setup(ExternalTools.QemuIo, ["-f", "qcow2", .. commands.SelectMany(c => (string[])["-c", c]), image]);

    /// <summary>Both tools' runs must agree: exit code, stdout, stderr.</summary>
    public static void Same(Run expected, Run actual, string what)
    {
        Assert.True(expected == actual, $"{what}\n=== qemu-img ===\n{expected}\n=== blockimg ===\n{actual}");
    }

    /// <summary>JSON documents equal member by member (order-insensitive inside objects), each difference named by its path.</summary>
    public static void SameJson(string expected, string actual, string what, params string[] ignore)
    {
        var differences = new List<string>();
        Compare(JsonNode.Parse(expected), JsonNode.Parse(actual), "$", differences, ignore);
        Assert.True(differences.Count == 0, $"{what}: {string.Join("; ", differences)}\n=== qemu-img ===\n{expected}\n=== blockimg ===\n{actual}");
    }

    private static void Compare(JsonNode? a, JsonNode? b, string path, List<string> differences, string[] ignore)
    {
        switch (a, b)
        {
            case (JsonObject oa, JsonObject ob):
                foreach (string key in oa.Select(p => p.Key).Union(ob.Select(p => p.Key)))
                {
                    if (ignore.Contains(key))
                    {
                        continue;
                    }
                    if (!oa.ContainsKey(key) || !ob.ContainsKey(key))
                    {
                        differences.Add($"{path}.{key} only in {(oa.ContainsKey(key) ? "qemu-img" : "blockimg")}");
                        continue;
                    }
                    Compare(oa[key], ob[key], $"{path}.{key}", differences, ignore);
                }
                break;
            case (JsonArray xa, JsonArray xb):
                if (xa.Count != xb.Count)
                {
                    differences.Add($"{path}: {xa.Count} items vs {xb.Count}");
                    break;
                }
                for (int i = 0; i < xa.Count; i++)
                {
                    Compare(xa[i], xb[i], $"{path}[{i}]", differences, ignore);
                }
                break;
            default:
                if (a?.ToJsonString() != b?.ToJsonString())
                {
                    differences.Add($"{path}: {a?.ToJsonString()} vs {b?.ToJsonString()}");
                }
                break;
        }
    }
}
