using BlockDaemon.TestKit;
using static BlockDaemon.ImageTool.Tests.Tools;

namespace BlockDaemon.ImageTool.Tests;

/// <summary>
/// Two directories built by the same setup, one for qemu-img and one for blockimg, so that a
/// command that writes can run with both and the results be compared. "{D}" in arguments is
/// the directory; in output it reads "DIR" for both.
/// </summary>
public sealed class SideBySide : IDisposable
{
    public TempDirectory Qemu { get; } = new("bi-q-");

    public TempDirectory Ours { get; } = new("bi-b-");

    public void Dispose()
    {
        Qemu.Dispose();
        Ours.Dispose();
    }

    public async Task SetupAsync(Func<TempDirectory, Task> setup)
    {
        await setup(Qemu);
        await setup(Ours);
    }

    public async Task<(Run Qemu, Run Ours)> RunAsync(string command)
    {
        string[] Args(TempDirectory dir) => command.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(a => a.Replace("{D}", dir.Path, StringComparison.Ordinal)).ToArray();
        var q = await QemuImgAsync(Args(Qemu));
        var b = await BlockimgAsync(Args(Ours));
        return (Normalise(q, Qemu), Normalise(b, Ours));
    }

    /// <summary>Runs both and requires the same exit code, stdout and stderr.</summary>
    public async Task SameAsync(string command)
    {
        var (q, b) = await RunAsync(command);
        Same(q, b, command);
    }

    /// <summary>The image <paramref name="name"/> in both directories reads the same, is clean, and qemu-img info agrees.</summary>
    public async Task SameImageAsync(string name, bool compareMap = true)
    {
        string q = Qemu[name], b = Ours[name];
        Assert.Equal(File.Exists(q), File.Exists(b));
        if (!File.Exists(q))
        {
            return;
        }
        var info = await QemuImgAsync("info", "--output=json", "-U", q);
        var ourInfo = await QemuImgAsync("info", "--output=json", "-U", b);
        SameJson(info.Stdout.Replace(Qemu.Path, "DIR", StringComparison.Ordinal), ourInfo.Stdout.Replace(Ours.Path, "DIR", StringComparison.Ordinal), $"qemu-img info of {name}", "actual-size", "date-sec", "date-nsec");
        var compare = await QemuImgAsync("compare", "-U", q, b);
        if (compare.ExitCode == 2 && compare.Stderr.Contains("Could not open backing file", StringComparison.Ordinal))
        {
            // Made with -u over a backing file that does not exist: there is nothing to read.
            return;
        }
        Assert.True(compare.ExitCode == 0, compare.ToString());
        if (info.Stdout.Contains("\"qcow2\"", StringComparison.Ordinal))
        {
            var check = await QemuImgAsync("check", b);
            Assert.True(check.ExitCode == 0, check.ToString());
        }
        if (compareMap)
        {
            var qm = await QemuImgAsync("map", "--output=json", "-U", q);
            var bm = await QemuImgAsync("map", "--output=json", "-U", b);
            Assert.Equal(StripOffsets(qm.Stdout), StripOffsets(bm.Stdout));
        }
    }

    // Host offsets depend on allocation order; what is allocated, zero or data must agree, so
    // neighbours that differ only in their offsets are merged before comparing.
    private static string StripOffsets(string map)
    {
        var merged = new List<(long Start, long Length, string Flags)>();
        foreach (var node in System.Text.Json.Nodes.JsonNode.Parse(map)!.AsArray())
        {
            var e = node!.AsObject();
            string rest = $"{e["depth"]} {e["present"]} {e["zero"]} {e["data"]}";
            long start = (long)e["start"]!, length = (long)e["length"]!;
            if (merged.Count > 0 && merged[^1].Flags == rest && merged[^1].Start + merged[^1].Length == start)
            {
                merged[^1] = (merged[^1].Start, merged[^1].Length + length, rest);
            }
            else
            {
                merged.Add((start, length, rest));
            }
        }
        return string.Join('\n', merged.Select(m => $"{m.Start}+{m.Length} {m.Flags}"));
    }

    private static Run Normalise(Run run, TempDirectory dir) =>
        run with { Stdout = run.Stdout.Replace(dir.Path, "DIR", StringComparison.Ordinal), Stderr = run.Stderr.Replace(dir.Path, "DIR", StringComparison.Ordinal) };
}
