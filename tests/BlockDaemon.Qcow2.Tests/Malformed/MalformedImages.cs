namespace BlockDaemon.Qcow2.Tests.Malformed;

using Build = Func<ImageWorkspace, CancellationToken, Task<ImageEditor>>;

/// <summary>
/// The corpus. Every image starts as a 64 MiB qcow2 v3 image from qemu-img with 64 KiB
/// clusters (header at 0, refcount table at 0x10000, refcount block at 0x20000, L1 at 0x30000),
/// usually with 0x5a written to its first cluster (L2 table at 0x40000, data at 0x50000).
/// The Qsd strings are recorded by <see cref="QsdRecorder"/> and checked by
/// <see cref="QsdBehaviourTests"/>; qsd-7.2-behaviour.md is rendered from them.
/// </summary>
internal static partial class MalformedImages
{
    public const string ImageName = "img.qcow2";

    private static readonly Lazy<IReadOnlyList<MalformedImage>> AllCases = new(() =>
    {
        var all = HeaderCases().Concat(TableFieldCases()).Concat(BackingCases()).Concat(EntryCases())
            .Concat(ExtensionCases()).Concat(TruncationCases()).ToList();
        var duplicate = all.GroupBy(c => c.Name).FirstOrDefault(g => g.Count() > 1);
        return duplicate is null ? all : throw new InvalidOperationException($"Two cases are named {duplicate.Key}");
    });

    public static IReadOnlyList<MalformedImage> All => AllCases.Value;

    public static MalformedImage Get(string name) => All.Single(c => c.Name == name);

    /// <summary>A case on the standard image with data, patched by <paramref name="edit"/>.</summary>
    private static MalformedImage Patched(string name, string patch, Action<ImageEditor> edit, string qsd, string? ours = MalformedImage.SameAsQsd) =>
        Built(name, patch, async (ws, ct) =>
        {
            var image = await ws.CreateWithDataAsync(ImageName, ct);
            edit(image);
            return image;
        }, qsd, ours);

    private static MalformedImage Built(string name, string patch, Build build, string qsd, string? ours = MalformedImage.SameAsQsd) =>
        new() { Name = name, Patch = patch, Build = build, Qsd = qsd, OursRefuses = ours };

    private static string Hex(ulong value) => $"0x{value:x}";
}
