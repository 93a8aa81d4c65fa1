using System.Text.RegularExpressions;

namespace BlockDaemon.Qcow2.Tests.Malformed;

/// <summary>
/// Records what qsd 7.2 does with a malformed image, in one line:
/// <list type="bullet">
/// <item><c>open fails: MESSAGE</c> — qsd exited with the --blockdev error MESSAGE (prefix removed);</item>
/// <item><c>open hangs</c> / <c>open crashes (exit N): STDERR</c>;</item>
/// <item><c>opens[ (stderr: ...)]; read: ...; write: ...</c> — qsd served the node; the read
/// (<c>read OFFSET LENGTH</c>) and the write (<c>write -P 0xa5 OFFSET LENGTH</c>, ranges from the
/// case) are qemu-io 7.2 runs (same block layer) on fresh copies of the image, output lines
/// joined by " / ", timing lines dropped.</item>
/// </list>
/// Every run has a timeout: qsd may hang on loops.
/// </summary>
internal static partial class QsdRecorder
{
    private static readonly TimeSpan QsdTimeout = TimeSpan.FromSeconds(5);

    public static bool Available =>
        QemuTools.Find(QemuTools.Qsd) is not null && QemuTools.Find(QemuTools.QemuIo) is not null && QemuTools.Find(QemuTools.QemuImg) is not null;

    /// <summary>Builds the image three times under <paramref name="root"/> (open, read, write) and records each step.</summary>
    public static async Task<string> RecordAsync(MalformedImage image, string root, CancellationToken ct)
    {
        var open = await BuildAsync(image, Path.Combine(root, "open"), ct);
        string opened = await OpenAsync(open.Path, image.ReadOnly, ct);
        if (!opened.StartsWith("opens", StringComparison.Ordinal))
        {
            return Normalize(opened, open.Path);
        }
        var read = await BuildAsync(image, Path.Combine(root, "read"), ct);
        string readResult = await QemuIoAsync(read.Path, image.ReadOnly, $"read {image.Read.Offset} {image.Read.Length}", ct);
        var write = await BuildAsync(image, Path.Combine(root, "write"), ct);
        string writeResult = await QemuIoAsync(write.Path, image.ReadOnly, $"write -P 0xa5 {image.Write.Offset} {image.Write.Length}", ct);
        return Normalize(opened, open.Path) + "; read: " + Normalize(readResult, read.Path) + "; write: " + Normalize(writeResult, write.Path);
    }

    private static async Task<ImageEditor> BuildAsync(MalformedImage image, string directory, CancellationToken ct)
    {
        Directory.CreateDirectory(directory);
        return await image.Build(new ImageWorkspace(directory), ct);
    }

    /// <summary>Starts qsd with the file and qcow2 nodes, then a monitor socket: the socket appears only once both nodes opened.</summary>
    private static async Task<string> OpenAsync(string path, bool readOnly, CancellationToken ct)
    {
        string socket = Path.Combine(Path.GetDirectoryName(path)!, "qsd.sock");
        string ro = readOnly ? ",read-only=on" : "";
        using var qsd = QemuTools.Start(QemuTools.Qsd,
        [
            "--blockdev", $"driver=file,node-name=f,filename={path}{ro}",
            "--blockdev", $"driver=qcow2,node-name=q,file=f{ro}",
            "--chardev", $"socket,path={socket},server=on,wait=off,id=m",
            "--monitor", "chardev=m",
        ]);
        var stderr = qsd.StandardError.ReadToEndAsync(ct);
        var deadline = DateTime.UtcNow + QsdTimeout;
        while (!qsd.HasExited && !File.Exists(socket) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10, ct);
        }
        bool exited = qsd.HasExited;
        bool served = !exited && File.Exists(socket);
        if (!exited)
        {
            QemuTools.Kill(qsd);
        }
        string error = (await stderr).Trim();
        if (served)
        {
            return error.Length == 0 ? "opens" : $"opens (stderr: {OneLine(error)})";
        }
        if (!exited)
        {
            return $"open hangs (no result within {QsdTimeout.TotalSeconds:0} s)";
        }
        if (qsd.ExitCode == 1)
        {
            string prefix = $"qemu-storage-daemon: --blockdev driver=qcow2,node-name=q,file=f{ro}: ";
            return MalformedImage.QsdOpenFails + OneLine(error.StartsWith(prefix, StringComparison.Ordinal) ? error[prefix.Length..] : error);
        }
        return $"open crashes (exit {qsd.ExitCode}): {OneLine(error)}";
    }

    private static async Task<string> QemuIoAsync(string path, bool readOnly, string command, CancellationToken ct)
    {
        var args = new List<string> { "-f", "qcow2" };
        if (readOnly)
        {
            args.Add("-r");
        }
        args.AddRange(["-c", command, path]);
        var run = await QemuTools.RunAsync(QemuTools.QemuIo, args, QsdTimeout, ct);
        if (run.TimedOut)
        {
            return "hangs";
        }
        var lines = (run.Stdout + run.Stderr)
            .Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(l => !TimingLine().IsMatch(l));
        string text = string.Join(" / ", lines);
        return run.ExitCode is 0 or 1 ? text : $"{text} (exit {run.ExitCode})";
    }

    private static string OneLine(string text) =>
        string.Join(" / ", text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

    private static string Normalize(string text, string imagePath) =>
        text.Replace(Path.GetDirectoryName(imagePath)!, "$DIR", StringComparison.Ordinal);

    // "64 KiB, 1 ops; 00.00 sec (28.969 MiB/sec and 463.4983 ops/sec)"
    [GeneratedRegex(@"^[\d.]+ \w+, \d+ ops; ")]
    private static partial Regex TimingLine();
}
