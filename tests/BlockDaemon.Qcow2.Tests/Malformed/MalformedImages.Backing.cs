using System.Text;
using H = BlockDaemon.Qcow2.Tests.Malformed.Qcow2HeaderView;

namespace BlockDaemon.Qcow2.Tests.Malformed;

// The backing file name: where it is, how long, what it names.
internal static partial class MalformedImages
{
    public const int DeepChainLength = 300;

    /// <summary>What the json: backing name would expose if it were followed.</summary>
    public static readonly byte[] Secret = Encoding.ASCII.GetBytes("host file that must not be served\n");

    /// <summary>Blockd's error for a backing chain deeper than this many images.</summary>
    public const int MaxChainDepth = 256;

    private const string NbdName = "nbd+unix:///exp?socket=/nonexistent/nbd.sock";
    private const string JsonName = "json:{\"file\":{\"driver\":\"file\",\"filename\":\"$DIR/secret.raw\"}}";

    private const string Dangerous = "an image header must not make the daemon open host files or connect to sockets the user did not name";
    private const string Loop = "qsd refuses only because its own image lock trips; with read-only=on,force-share=on it recurses without end and ignores SIGTERM";

    private static IEnumerable<MalformedImage> BackingCases()
    {
        yield return Patched("backing-name-offset-past-cluster", "backing_file_offset = 65532, backing_file_size = 16",
            i => i.Be64(H.BackingFileOffsetOffset, 65532).Be32(H.BackingFileSizeOffset, 16), "open fails: Backing file name too long");
        yield return Patched("backing-name-length-1024", "backing_file_offset = 0x1000, backing_file_size = 1024 ('b' * 1024)",
            i => i.Bytes(0x1000, Encoding.ASCII.GetBytes(new string('b', 1024)))
                  .Be64(H.BackingFileOffsetOffset, 0x1000).Be32(H.BackingFileSizeOffset, 1024), "open fails: Backing file name too long");
        yield return Patched("backing-name-outside-header-cluster", "backing_file_offset = 0x50000 (the data cluster, 'ZZZZZZZZ'), backing_file_size = 8",
            i => i.Be64(H.BackingFileOffsetOffset, 0x50000).Be32(H.BackingFileSizeOffset, 8), "open fails: Invalid backing file offset");
        yield return Built("backing-json", $"no data; backing name {JsonName}, format raw (qsd serves secret.raw as the image's content)",
            async (ws, ct) =>
            {
                ws.WriteFile("secret.raw", Secret);
                var image = await ws.CreateAsync(ImageName, ct);
                return image.SetBackingName(JsonName.Replace("$DIR", ws.Directory, StringComparison.Ordinal), "raw");
            }, "opens; read: read 65536/65536 bytes at offset 0; write: wrote 131072/131072 bytes at offset 0", ours: Refusing(JsonName)) with { InBackingChain = true, Why = Dangerous };
        yield return Patched("backing-nbd-unix", $"backing name {NbdName}, format raw",
            i => i.SetBackingName(NbdName, "raw"), "open fails: Could not open backing file: Failed to connect to '/nonexistent/nbd.sock': No such file or directory", ours: Refusing(NbdName)) with { InBackingChain = true, Why = Dangerous };
        yield return Built("backing-loop-self", "backing name = the image's own name (A -> A)",
            async (ws, ct) =>
            {
                var image = await ws.CreateWithDataAsync(ImageName, ct);
                return image.SetBackingName(ImageName, "qcow2");
            }, "open fails: Could not open backing file: Failed to get shared \"write\" lock / Is another process using the image [$DIR/img.qcow2]?", ours: "Backing file loop: $DIR/img.qcow2 -> $DIR/img.qcow2") with { InBackingChain = true, Why = Loop };
        yield return Built("backing-loop-two", "A -> B -> A (backing names patched)",
            async (ws, ct) =>
            {
                var b = await ws.CreateAsync("b.qcow2", ct);
                b.SetBackingName(ImageName, "qcow2");
                var image = await ws.CreateWithDataAsync(ImageName, ct);
                return image.SetBackingName("b.qcow2", "qcow2");
            }, "open fails: Could not open backing file: Could not open backing file: Failed to get shared \"write\" lock / Is another process using the image [$DIR/img.qcow2]?", ours: "Backing file loop: $DIR/img.qcow2 -> $DIR/b.qcow2 -> $DIR/img.qcow2") with { InBackingChain = true, Why = Loop };
        yield return Built("backing-chain-300", $"a chain of {DeepChainLength + 1} 1 MiB images, c{DeepChainLength:000} -> ... -> c000",
            BuildDeepChainAsync, "opens; read: read 65536/65536 bytes at offset 0; write: wrote 131072/131072 bytes at offset 0", ours: $"Backing chain of '$DIR/c{DeepChainLength:000}.qcow2' is deeper than {MaxChainDepth} images") with
            {
                InBackingChain = true,
                Why = "qsd follows any depth (each level costs memory, file handles and a recursion level); blockd sets a bound, as crosvm does",
            };
        yield return Patched("backing-missing-file", "backing name = missing.qcow2 (does not exist), format qcow2",
            i => i.SetBackingName("missing.qcow2", "qcow2"), "open fails: Could not open backing file: Could not open '$DIR/missing.qcow2': No such file or directory");
        yield return Built("backing-without-format", "backing base.qcow2 (valid, with data), no backing format extension",
            async (ws, ct) =>
            {
                await ws.CreateWithDataAsync("base.qcow2", ct);
                var image = await ws.CreateAsync(ImageName, ct);
                return image.SetBackingName("base.qcow2", format: null);
            }, "opens; read: read 65536/65536 bytes at offset 0; write: wrote 131072/131072 bytes at offset 0", ours: "The image header names backing file 'base.qcow2' without its format; give the backing node explicitly with 'backing', or record the format with 'qemu-img rebase -u -F FORMAT -b base.qcow2'")
            with { Why = "qsd probes the format; probing is the classic format-confusion hazard (a raw image that looks like qcow2), so blockd asks for the format" };
    }

    private static string Refusing(string name) =>
        $"Refusing backing file name '{name}' from the image header: only plain file names are followed; give the backing node explicitly with 'backing' to use it";

    // qemu-img once for a template whose backing name has the same length as every other
    // name in the chain, then copies with the name bytes patched: 300 qemu-img runs would be slow.
    private static async Task<ImageEditor> BuildDeepChainAsync(ImageWorkspace ws, CancellationToken ct)
    {
        await ws.CreateAsync("c000.qcow2", ct, size: "1M");
        var template = await ws.CreateAsync("template.qcow2", ct, size: "1M", backing: "c000.qcow2");
        var header = template.Header;
        ImageEditor top = template;
        for (int n = 1; n <= DeepChainLength; n++)
        {
            top = ws.Copy("template.qcow2", $"c{n:000}.qcow2");
            top.Bytes((long)header.BackingFileOffset, Encoding.ASCII.GetBytes($"c{n - 1:000}.qcow2"));
        }
        File.Delete(template.Path);
        return top;
    }
}
