using System.Runtime.CompilerServices;
using System.Text;

namespace BlockDaemon.Qcow2.Tests.Malformed;

/// <summary>Renders qsd-7.2-behaviour.md from the corpus, so the table and the tests cannot drift apart.</summary>
internal static class BehaviourTable
{
    public const string FileName = "qsd-7.2-behaviour.md";

    /// <summary>Where the table lives in the source tree (this file's directory at build time).</summary>
    public static string SourcePath([CallerFilePath] string thisFile = "") =>
        Path.Combine(Path.GetDirectoryName(thisFile)!, FileName);

    public static string Render(IReadOnlyList<MalformedImage> cases)
    {
        var md = new StringBuilder();
        md.Append("""
            # Malformed qcow2 images: what qsd 7.2 does, and what blockd does

            Generated from `MalformedImages*.cs` by `BehaviourTable.Render`; regenerate with
            `BLOCKD_WRITE_MALFORMED_TABLE=1 dotnet test --project tests/BlockDaemon.Qcow2.Tests`
            (the test `The_behaviour_table_is_rendered_from_the_corpus` writes it, then compares).
            `QsdBehaviourTests` re-runs qsd on every image and checks the "qsd 7.2" column.

            Every image starts as `qemu-img create -f qcow2 img.qcow2 64M` (v3, 64 KiB clusters:
            header at 0, refcount table at 0x10000, refcount block at 0x20000, L1 table at 0x30000),
            mostly followed by `qemu-io -c "write -P 0x5a 0 64k"` (L2 table at 0x40000, data at
            0x50000); then big-endian fields are patched at offsets read from the header.

            The qsd column: `open fails: MESSAGE` is qsd's `--blockdev` error (exit 1), without the
            `qemu-storage-daemon: --blockdev driver=qcow2,node-name=q,file=f: ` prefix. `opens` means
            qsd served the node (its monitor socket appeared); then `read:` is qemu-io 7.2
            `read 0 64k` and `write:` is qemu-io `write -P 0xa5 0 128k` (other ranges where the
            patch says so), each on a fresh copy; output lines are joined by " / ", timing lines
            dropped. `$DIR` is the directory of the image. Read-only cases use `read-only=on` and
            `qemu-io -r`.

            The blockd column: "same" means blockd's open fails with qsd's message word for word.
            "opens" means the open succeeds and the read and the write either succeed or fail with
            a `BlockException`, without changing any file but the image; each test has 10 s.
            Messages marked "(may be prefixed)" can carry one "Could not open backing file: " per
            level of the chain.

            | # | case | patch | qsd 7.2 | blockd |
            |---|---|---|---|---|

            """);
        int n = 0;
        foreach (var c in cases)
        {
            n++;
            md.Append($"| {n} | `{c.Name}` | {Cell(c.Patch)} | {Cell(c.Qsd)} | {Cell(Ours(c))} |\n");
        }
        return md.ToString();
    }

    private static string Ours(MalformedImage c)
    {
        string what = c.OursRefuses switch
        {
            MalformedImage.SameAsQsd => "same",
            null when c.OursWriteFails => "opens; the write fails with a BlockException",
            null when c.AfterIo is not null => "opens; read/write succeed or fail with a BlockException; nothing is allocated over the header, refcount table or L1 table",
            null => "opens",
            var message => $"open fails: {message}" + (c.InBackingChain ? " (may be prefixed)" : ""),
        };
        return c.Why is null ? what : $"{what}. Why: {c.Why}";
    }

    private static string Cell(string text) => text.Replace("|", "\\|", StringComparison.Ordinal).Replace("\n", " ", StringComparison.Ordinal);
}
