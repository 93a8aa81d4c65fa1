using System.Globalization;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;

namespace BlockDaemon.Qcow2.Tests.Crash;

internal enum GuestOpKind { Write, WriteZeroes, WriteZeroesUnmap, Discard, Resize, Flush }

/// <summary>One guest request of a crash workload. Resize grows the disk to <see cref="Length"/> bytes.</summary>
internal readonly record struct GuestOp(GuestOpKind Kind, long Offset, long Length, byte Pattern = 0)
{
    public long End => Offset + Length;

    /// <summary>True for requests that change guest bytes in [Offset, End).</summary>
    public bool ChangesData => Kind is GuestOpKind.Write or GuestOpKind.WriteZeroes or GuestOpKind.WriteZeroesUnmap or GuestOpKind.Discard;

    /// <summary>The byte this op leaves in its range (discard reads back as zeroes in qcow2 v3).</summary>
    public byte NewByte => Kind == GuestOpKind.Write ? Pattern : (byte)0;

    public async ValueTask ApplyAsync(BlockChild edge, CancellationToken ct)
    {
        switch (Kind)
        {
            case GuestOpKind.Write:
                var data = new byte[Length];
                data.AsSpan().Fill(Pattern);
                await edge.WriteAsync(Offset, data, WriteFlags.None, ct);
                break;
            case GuestOpKind.WriteZeroes:
                await edge.WriteZeroesAsync(Offset, Length, WriteFlags.None, ct);
                break;
            case GuestOpKind.WriteZeroesUnmap:
                await edge.WriteZeroesAsync(Offset, Length, WriteFlags.MayUnmap, ct);
                break;
            case GuestOpKind.Discard:
                await edge.DiscardAsync(Offset, Length, ct);
                break;
            case GuestOpKind.Resize:
                await edge.TruncateAsync(Length, ct);
                break;
            default:
                await edge.FlushAsync(ct);
                break;
        }
    }

    /// <summary>The qemu-io command for the op (used in repro text).</summary>
    public override string ToString() => Kind switch
    {
        GuestOpKind.Write => string.Create(CultureInfo.InvariantCulture, $"write -P 0x{Pattern:x2} {Offset} {Length}"),
        GuestOpKind.WriteZeroes => string.Create(CultureInfo.InvariantCulture, $"write -z {Offset} {Length}"),
        GuestOpKind.WriteZeroesUnmap => string.Create(CultureInfo.InvariantCulture, $"write -z -u {Offset} {Length}"),
        GuestOpKind.Discard => string.Create(CultureInfo.InvariantCulture, $"discard {Offset} {Length}"),
        GuestOpKind.Resize => string.Create(CultureInfo.InvariantCulture, $"truncate {Length}"),
        _ => "flush",
    };
}
