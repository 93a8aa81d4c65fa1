using BlockDaemon.Core.Drivers.File;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;
using BlockDaemon.Qcow2;
using BlockDaemon.Qcow2.Create;
using BlockDaemon.TestKit;

namespace BlockDaemon.Qmp.Tests.Jobs;

/// <summary>Backing chains for job tests, made in-process so the tests need no qemu-img.</summary>
internal static class ChainImages
{
    /// <summary>
    /// A qcow2 image <paramref name="name"/> in <paramref name="dir"/> over <paramref name="backing"/>
    /// (a file name, or null), with the given ranges filled in its own layer.
    /// </summary>
    public static async Task CreateAsync(TempDirectory dir, string name, long size, string? backing,
        (long Offset, long Length, byte Fill)[] data, CancellationToken ct)
    {
        var graph = new BlockGraph();
        graph.RegisterDriver(new FileDriverFactory());
        graph.RegisterDriver(new Qcow2DriverFactory());
        string path = dir.CreateFile(name, 0);
        try
        {
            var file = await graph.AddNodeAsync(Opt.File(path, "f"), ct);
            var creator = graph.AttachUser(null, file, BlockPermissions.ConsistentRead | BlockPermissions.Write | BlockPermissions.Resize, BlockPermissions.All);
            await Qcow2Creator.CreateAsync(creator.Root!, new Qcow2CreateOptions
            {
                Size = size,
                BackingFile = backing,
                BackingFormat = backing is null ? null : "qcow2",
            }, ct);
            graph.DetachUser(creator);
            var image = await graph.AddNodeAsync(Opt.Node("qcow2", "img", ("file", "f"), ("backing", null)), ct);
            var writer = graph.AttachUser(null, image, BlockPermissions.ConsistentRead | BlockPermissions.Write, BlockPermissions.All);
            foreach (var (offset, length, fill) in data)
            {
                var bytes = new byte[length];
                Array.Fill(bytes, fill);
                await writer.Root!.WriteAsync(offset, bytes, ct: ct);
            }
            await writer.Root!.FlushAsync(ct);
            graph.DetachUser(writer);
        }
        finally
        {
            await graph.CloseAllAsync(ct);
        }
    }
}
