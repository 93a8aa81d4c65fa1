using BlockDaemon.TestKit;
using System.Buffers.Binary;
using BlockDaemon.Qcow2.Tests.Interop;

namespace BlockDaemon.Qcow2.Tests.Crash;

/// <summary>
/// Creates the starting image of a crash run with qemu-img and qemu-io: optionally a prefilled
/// backing file, then the image itself, partly written and zeroed so the workload overwrites,
/// copies on write and frees clusters QEMU allocated.
/// </summary>
internal static class CrashImages
{
    public const string StartName = "start.qcow2";

    public static async Task<string> CreateAsync(string dir, CrashConfig config, CancellationToken ct)
    {
        int cs = config.ClusterSize;
        string? backing = null;
        if (config.Backing)
        {
            string basePath = Path.Combine(dir, "base.qcow2");
            await Qemu.CreateAsync(basePath, config.Size, $"cluster_size={cs}", ct);
            var fill = new List<string>();
            for (long offset = 0, i = 0; offset + 2L * cs <= config.Size; offset += 3L * cs, i++)
            {
                fill.Add($"write -q -P 0x{0xa0 + i % 16:x2} {offset} {2L * cs}");
            }
            await Qemu.IoAsync(basePath, fill, ct);
            backing = "base.qcow2";
        }
        string start = Path.Combine(dir, StartName);
        await Qemu.CreateAsync(start, config.Size, config.Options, ct, backing);
        var script = new List<string>();
        for (long offset = 0, i = 0; offset + 4L * cs <= config.Size; offset += 5L * cs, i++)
        {
            script.Add($"write -q -P 0x{0xc0 + i % 16:x2} {offset} {cs + cs / 2}");
            script.Add($"write -q -z {offset + 3L * cs} {cs}");
        }
        if (config.DirtyStart)
        {
            // With lazy refcounts QEMU sets the dirty bit on the first write and clears it on a
            // clean close; abort(3) skips the close, leaving refcounts stale and the bit set.
            script.Add("abort");
            var args = new List<string> { "-f", "qcow2" };
            foreach (string command in script)
            {
                args.AddRange(["-c", command]);
            }
            args.Add(start);
            await ExternalTools.TryRunAsync(ExternalTools.QemuIo, args, ExternalTools.DefaultTimeout, ct);
            Assert.True(IsDirty(await File.ReadAllBytesAsync(start, ct)), $"{config}: qemu-io abort did not leave the dirty bit set");
        }
        else
        {
            await Qemu.IoAsync(start, script, ct);
        }
        return start;
    }

    /// <summary>True when the header's dirty bit (incompatible feature bit 0) is set.</summary>
    public static bool IsDirty(byte[] image) =>
        image.Length >= 80 && BinaryPrimitives.ReadUInt32BigEndian(image) >= 3
        && (BinaryPrimitives.ReadUInt64BigEndian(image.AsSpan(72)) & 1) != 0;
}
