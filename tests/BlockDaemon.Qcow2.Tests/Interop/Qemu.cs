using BlockDaemon.TestKit;
using System.Globalization;

namespace BlockDaemon.Qcow2.Tests.Interop;

/// <summary>The qemu-img and qemu-io commands the interop tests use, each failing loudly.</summary>
internal static class Qemu
{
    /// <summary>`qemu-img create -f qcow2 [-o OPTIONS] [-b BACKING -F qcow2] PATH SIZE`.</summary>
    public static Task CreateAsync(string path, long size, string? options, CancellationToken ct, string? backing = null)
    {
        var args = new List<string> { "create", "-q", "-f", "qcow2" };
        if (!string.IsNullOrEmpty(options))
        {
            args.AddRange(["-o", options]);
        }
        if (backing is not null)
        {
            args.AddRange(["-b", backing, "-F", "qcow2"]);
        }
        args.AddRange([path, size.ToString(CultureInfo.InvariantCulture)]);
        return ExternalTools.RunAsync(ExternalTools.QemuImg, args, ct);
    }

    /// <summary>
    /// Runs qemu-io commands in order in one process (qemu-io opens with discard=unmap by default).
    /// Fails if a command fails: qemu-io then exits non-zero and names it.
    /// </summary>
    public static async Task IoAsync(string path, IEnumerable<string> commands, CancellationToken ct, string format = "qcow2")
    {
        var args = new List<string> { "-f", format };
        foreach (string command in commands)
        {
            args.AddRange(["-c", command]);
        }
        args.Add(path);
        var result = await ExternalTools.RunAsync(ExternalTools.QemuIo, args, ct);
        // qemu-io reports a failed command ("write failed: ...") on stdout or stderr depending on the command.
        if (result.Stderr.Contains("failed", StringComparison.OrdinalIgnoreCase) || result.Stdout.Contains(" failed: ", StringComparison.Ordinal))
        {
            Assert.Fail(result.ToString());
        }
    }

    public static Task IoAsync(string path, CancellationToken ct, params string[] commands) => IoAsync(path, commands, ct);

    /// <summary>The virtual disk as qemu sees it, through the whole backing chain (`qemu-img convert -O raw`).</summary>
    public static async Task<byte[]> ReadRawAsync(string path, CancellationToken ct)
    {
        string raw = path + ".ref.raw";
        await ExternalTools.RunAsync(ExternalTools.QemuImg, ["convert", "-O", "raw", path, raw], ct);
        try
        {
            return await File.ReadAllBytesAsync(raw, ct);
        }
        finally
        {
            File.Delete(raw);
        }
    }

    public static async Task<IReadOnlyList<MapExtent>> MapAsync(string path, CancellationToken ct)
    {
        var result = await ExternalTools.RunAsync(ExternalTools.QemuImg, ["map", "--output=json", "-f", "qcow2", path], ct);
        return MapExtent.ParseJson(result.Stdout);
    }

    /// <summary>`qemu-img check`: 0 clean, 1 check failed, 2 corruptions, 3 leaks only.</summary>
    public static Task<ToolResult> CheckAsync(string path, CancellationToken ct) =>
        ExternalTools.RunAsync(ExternalTools.QemuImg, ["check", "-f", "qcow2", path], ct, 0, 1, 2, 3);

    /// <summary>Asserts `qemu-img check` finds neither corruptions nor leaked clusters.</summary>
    public static async Task AssertCleanAsync(string path, string context, CancellationToken ct)
    {
        var result = await CheckAsync(path, ct);
        if (result.ExitCode != 0)
        {
            Assert.Fail($"{context}: qemu-img check of {Path.GetFileName(path)} is not clean " +
                $"(exit {result.ExitCode}: {CheckMeaning(result.ExitCode)})\n{result}");
        }
    }

    /// <summary>`qemu-img compare`: true when identical (exit 0), false when they differ (exit 1).</summary>
    public static async Task<(bool Identical, ToolResult Result)> CompareAsync(string a, string b, CancellationToken ct)
    {
        var result = await ExternalTools.RunAsync(ExternalTools.QemuImg, ["compare", "-f", "qcow2", "-F", "qcow2", a, b], ct, 0, 1);
        return (result.ExitCode == 0, result);
    }

    public static Task SnapshotAsync(string path, string name, CancellationToken ct) =>
        ExternalTools.RunAsync(ExternalTools.QemuImg, ["snapshot", "-c", name, path], ct);

    public static Task AddBitmapAsync(string path, string name, CancellationToken ct, bool disabled = false) =>
        ExternalTools.RunAsync(ExternalTools.QemuImg, disabled
            ? ["bitmap", "--add", "--disable", path, name]
            : ["bitmap", "--add", path, name], ct);

    public static Task ConvertAsync(IReadOnlyList<string> args, CancellationToken ct) =>
        ExternalTools.RunAsync(ExternalTools.QemuImg, ["convert", .. args], ct);

    private static string CheckMeaning(int exit) => exit switch
    {
        1 => "the check was not completed because of an internal error",
        2 => "the image is corrupted",
        3 => "leaked clusters, no corruption",
        _ => "unknown",
    };
}
