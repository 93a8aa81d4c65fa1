using BlockDaemon.TestKit;

namespace BlockDaemon.IoTests.Recipes;

/// <summary>qemu-img / qemu-io steps of the recipes, failing the test with the tool's output.</summary>
internal static class Images
{
    public const long DiskSize = 32 << 20;

    public static Task<ToolResult> ImgAsync(CancellationToken ct, params string[] args) =>
        ExternalTools.RunAsync(ExternalTools.QemuImg, args, ct);

    /// <summary>A qcow2 image of <see cref="DiskSize"/>, over <paramref name="backing"/> when given.</summary>
    public static Task CreateAsync(string path, CancellationToken ct, string? backing = null) =>
        backing is null
            ? ImgAsync(ct, "create", "-q", "-f", "qcow2", path, DiskSize.ToString(System.Globalization.CultureInfo.InvariantCulture))
            : ImgAsync(ct, "create", "-q", "-f", "qcow2", "-b", backing, "-F", "qcow2", path, DiskSize.ToString(System.Globalization.CultureInfo.InvariantCulture));

    /// <summary>Fills [offset, offset+length) with <paramref name="pattern"/> (and the same in <paramref name="model"/>).</summary>
    public static async Task FillAsync(string path, byte pattern, long offset, long length, byte[] model, CancellationToken ct)
    {
        await ExternalTools.RunAsync(ExternalTools.QemuIo, ["-f", "qcow2", "-c", $"write -q -P {pattern} {offset} {length}", path], ct);
        model.AsSpan((int)offset, (int)length).Fill(pattern);
    }

    /// <summary>The guest view of an image or NBD URI, as bytes (qemu-img convert to raw).</summary>
    public static async Task<byte[]> ReadAsync(string source, string format, string scratchDir, CancellationToken ct)
    {
        string raw = Path.Combine(scratchDir, $"view-{Guid.NewGuid():N}.raw");
        var args = new List<string> { "convert", "-f", format, "-O", "raw" };
        if (format != "raw")
        {
            args.Add("-U");
        }
        args.AddRange([source, raw]);
        await ExternalTools.RunAsync(ExternalTools.QemuImg, args, ct);
        byte[] bytes = await File.ReadAllBytesAsync(raw, ct);
        File.Delete(raw);
        return bytes;
    }

    /// <summary>qemu-img compare of a raw file holding <paramref name="expected"/> with <paramref name="image"/>.</summary>
    public static async Task AssertHoldsAsync(byte[] expected, string image, string scratchDir, string what, CancellationToken ct)
    {
        string raw = Path.Combine(scratchDir, $"expected-{Guid.NewGuid():N}.raw");
        await File.WriteAllBytesAsync(raw, expected, ct);
        var result = await ExternalTools.TryRunAsync(ExternalTools.QemuImg, ["compare", "-f", "raw", "-F", "qcow2", raw, image], ExternalTools.DefaultTimeout, ct);
        File.Delete(raw);
        Assert.True(result.ExitCode == 0, $"{what}: {image} does not hold what the guest wrote:\n{result}");
    }

    /// <summary>qemu-img check must find nothing (exit 0), or at worst leaks when <paramref name="leaksAllowed"/>.</summary>
    public static async Task AssertCleanAsync(string image, CancellationToken ct, bool leaksAllowed = false)
    {
        var result = await ExternalTools.TryRunAsync(ExternalTools.QemuImg, ["check", "-f", "qcow2", image], ExternalTools.DefaultTimeout, ct);
        Assert.True(result.ExitCode == 0 || (leaksAllowed && result.ExitCode == 3), $"qemu-img check {image}:\n{result}");
    }

    /// <summary>The file names of `qemu-img info --backing-chain`, top first.</summary>
    public static async Task<List<string>> ChainAsync(string image, CancellationToken ct)
    {
        var result = await ImgAsync(ct, "info", "--backing-chain", "-U", image);
        return result.Stdout.Split('\n')
            .Where(l => l.StartsWith("image: ", StringComparison.Ordinal))
            .Select(l => l["image: ".Length..].Trim())
            .ToList();
    }
}
