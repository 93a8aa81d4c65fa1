using System.Text.Json.Nodes;
using BlockDaemon.Ctl.Tests.Daemons;
using BlockDaemon.TestKit;

namespace BlockDaemon.Ctl.Tests.Jobs;

/// <summary>
/// base.qcow2 ← mid.qcow2 ← top.qcow2 (64 MiB each), made with qemu-img and filled with qemu-io
/// so that every layer contributes data the guest view depends on:
/// <code>
///   [0, 1M)    0x34 from top (over base's 0x11)
///   [1M, 16M)  0x11 from base
///   [16M, 24M) 0x22 from mid
///   [24M, 32M) 0x33 from top
///   [32M, 64M) zeroes
/// </code>
/// Opened in the daemon as nodes "base", "mid", "top" (each qcow2 over a file node).
/// </summary>
internal sealed class ImageChain
{
    public const long Size = 64 << 20;

    /// <summary>The guest view as qemu-io read commands; any image holding the whole view passes them all.</summary>
    public static readonly string[] FullView =
    [
        "read -P 0x34 0 1M", "read -P 0x11 1M 15M", "read -P 0x22 16M 8M", "read -P 0x33 24M 8M", "read -P 0 32M 32M",
    ];

    private ImageChain(Daemon daemon)
    {
        Daemon = daemon;
    }

    public Daemon Daemon { get; }

    public string Base => Daemon.Dir["base.qcow2"];

    public string Mid => Daemon.Dir["mid.qcow2"];

    public string Top => Daemon.Dir["top.qcow2"];

    public static async Task<ImageChain> CreateAsync(Daemon daemon, CancellationToken ct)
    {
        ExternalTools.Require(ExternalTools.QemuImg, ExternalTools.QemuIo);
        var chain = new ImageChain(daemon);
        await ExternalTools.RunAsync(ExternalTools.QemuImg, ["create", "-q", "-f", "qcow2", chain.Base, "64M"], ct);
        await ExternalTools.RunAsync(ExternalTools.QemuImg, ["create", "-q", "-f", "qcow2", "-b", chain.Base, "-F", "qcow2", chain.Mid], ct);
        await ExternalTools.RunAsync(ExternalTools.QemuImg, ["create", "-q", "-f", "qcow2", "-b", chain.Mid, "-F", "qcow2", chain.Top], ct);
        await ExternalTools.RunAsync(ExternalTools.QemuIo, ["-f", "qcow2", "-c", "write -P 0x11 0 16M", chain.Base], ct);
        await ExternalTools.RunAsync(ExternalTools.QemuIo, ["-f", "qcow2", "-c", "write -P 0x22 16M 8M", chain.Mid], ct);
        await ExternalTools.RunAsync(ExternalTools.QemuIo, ["-f", "qcow2", "-c", "write -P 0x34 0 1M", "-c", "write -P 0x33 24M 8M", chain.Top], ct);

        await chain.AddQcow2Async("base", chain.Base, null, ct);
        await chain.AddQcow2Async("mid", chain.Mid, "base", ct);
        await chain.AddQcow2Async("top", chain.Top, "mid", ct);
        return chain;
    }

    /// <summary>blockdev-add of a qcow2 node over a file node; <paramref name="backing"/> a node name, or null for none.</summary>
    public async Task AddQcow2Async(string node, string path, string? backing, CancellationToken ct, bool openBacking = true)
    {
        var options = new JsonObject
        {
            ["driver"] = "qcow2",
            ["node-name"] = node,
            ["file"] = new JsonObject { ["driver"] = "file", ["filename"] = path },
        };
        if (backing is not null)
        {
            options["backing"] = backing;
        }
        else if (!openBacking)
        {
            options["backing"] = null;
        }
        await Daemon.Qmp.ExecuteAsync("blockdev-add", options, ct);
    }

    /// <summary>Serves node <paramref name="node"/> over NBD (export "e0"): a parent a pivot must move.</summary>
    public async Task<string> ExportAsync(string node, CancellationToken ct)
    {
        string socket = Daemon.Dir["nbd.sock"];
        await Daemon.Qmp.ExecuteAsync("nbd-server-start", new JsonObject
        {
            ["addr"] = new JsonObject { ["type"] = "unix", ["data"] = new JsonObject { ["path"] = socket } },
        }, ct);
        await Daemon.Qmp.ExecuteAsync("block-export-add", new JsonObject { ["type"] = "nbd", ["id"] = "e0", ["node-name"] = node, ["writable"] = true }, ct);
        return socket;
    }

    public async Task<string> ExportedNodeAsync(CancellationToken ct)
    {
        var exports = await Daemon.Qmp.ExecuteAsync("query-block-exports", null, ct) as JsonArray;
        return (string)exports!.Single()!["node-name"]!;
    }

    /// <summary>The file names of qemu-img info --backing-chain, top first (run after the daemon quit).</summary>
    public static async Task<string[]> BackingChainAsync(string image, CancellationToken ct)
    {
        var info = await ExternalTools.RunAsync(ExternalTools.QemuImg, ["info", "--backing-chain", "--output=json", image], ct);
        return JsonNode.Parse(info.Stdout)!.AsArray().Select(i => (string)i!["filename"]!).ToArray();
    }

    /// <summary>
    /// Quits the daemon, then fails unless <paramref name="image"/>'s backing chain is
    /// <paramref name="expectedChain"/> (top first) and it still reads <see cref="FullView"/>:
    /// what every job that keeps the guest's view must leave behind.
    /// </summary>
    public async Task QuitAndVerifyAsync(string image, string[] expectedChain, CancellationToken ct)
    {
        await Daemon.QuitAsync(ct);
        Assert.Equal(expectedChain, await BackingChainAsync(image, ct));
        await VerifyAsync(image, FullView, ct);
    }

    /// <summary>Fails unless every read of <paramref name="reads"/> on <paramref name="image"/> (through its backing chain) sees its pattern.</summary>
    public static async Task VerifyAsync(string image, IEnumerable<string> reads, CancellationToken ct)
    {
        var args = new List<string> { "-r", "-f", "qcow2" };
        foreach (string read in reads)
        {
            args.Add("-c");
            args.Add(read);
        }
        args.Add(image);
        var result = await ExternalTools.RunAsync(ExternalTools.QemuIo, args, ct);
        Assert.False(result.Stdout.Contains("Pattern verification failed", StringComparison.Ordinal) || result.Stderr.Length > 0, result.ToString());
    }
}
