using System.Globalization;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;

namespace BlockDaemon.Qcow2.Tests.Interop;

internal enum WorkloadOpKind { Write, WriteZeroes, WriteZeroesUnmap, Discard, Flush }

/// <summary>
/// One guest request, expressible both as a qemu-io command and as a call on a <see cref="BlockChild"/>,
/// so the same list can drive QEMU and our driver.
/// </summary>
internal readonly record struct WorkloadOp(WorkloadOpKind Kind, long Offset, long Length, byte Pattern = 0)
{
    public long End => Offset + Length;

    public bool Covers(long offset) => Kind != WorkloadOpKind.Flush && offset >= Offset && offset < End;

    public static WorkloadOp Write(long offset, long length, byte pattern) => new(WorkloadOpKind.Write, offset, length, pattern);

    public static WorkloadOp Zero(long offset, long length, bool unmap = false) =>
        new(unmap ? WorkloadOpKind.WriteZeroesUnmap : WorkloadOpKind.WriteZeroes, offset, length);

    public static WorkloadOp Discard(long offset, long length) => new(WorkloadOpKind.Discard, offset, length);

    public static WorkloadOp Flush() => new(WorkloadOpKind.Flush, 0, 0);

    /// <summary>The qemu-io command (quiet: no statistics line).</summary>
    public string ToQemuIo() => Kind switch
    {
        WorkloadOpKind.Write => string.Create(CultureInfo.InvariantCulture, $"write -q -P 0x{Pattern:x2} {Offset} {Length}"),
        WorkloadOpKind.WriteZeroes => string.Create(CultureInfo.InvariantCulture, $"write -q -z {Offset} {Length}"),
        WorkloadOpKind.WriteZeroesUnmap => string.Create(CultureInfo.InvariantCulture, $"write -q -z -u {Offset} {Length}"),
        WorkloadOpKind.Discard => string.Create(CultureInfo.InvariantCulture, $"discard -q {Offset} {Length}"),
        _ => "flush",
    };

    public override string ToString() => ToQemuIo().Replace(" -q", "", StringComparison.Ordinal);

    /// <summary>Issues the op through our block layer. <paramref name="scratch"/> must hold at least <see cref="Length"/> bytes.</summary>
    public async ValueTask ApplyAsync(BlockChild edge, byte[] scratch, CancellationToken ct)
    {
        switch (Kind)
        {
            case WorkloadOpKind.Write:
                var data = scratch.AsMemory(0, checked((int)Length));
                data.Span.Fill(Pattern);
                await edge.WriteAsync(Offset, data, WriteFlags.None, ct);
                break;
            case WorkloadOpKind.WriteZeroes:
                await edge.WriteZeroesAsync(Offset, Length, WriteFlags.None, ct);
                break;
            case WorkloadOpKind.WriteZeroesUnmap:
                await edge.WriteZeroesAsync(Offset, Length, WriteFlags.MayUnmap, ct);
                break;
            case WorkloadOpKind.Discard:
                await edge.DiscardAsync(Offset, Length, ct);
                break;
            default:
                await edge.FlushAsync(ct);
                break;
        }
    }
}
