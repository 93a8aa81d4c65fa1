using System.Numerics;
using System.Text;
using BlockDaemon.Core.Errors;
using BlockDaemon.Qcow2.Engine;
using BlockDaemon.Qcow2.Format;

namespace BlockDaemon.Qcow2.Create;

/// <summary>
/// The option checks of qcow2_co_create, in its order, so that with several bad options the
/// first error reported is qsd's. The checks qsd only meets later are made before anything is
/// written too, so that nothing is written for an image that cannot be made.
/// </summary>
public static class Qcow2CreateValidation
{
    private const string UseV3 = "(use version=v3 or greater)";

    public static void Validate(Qcow2CreateOptions o)
    {
        if (o.Size % 512 != 0)
        {
            throw BlockException.Invalid("Image size must be a multiple of 512 bytes");
        }
        if (o.Version is not (2 or 3))
        {
            throw BlockException.Invalid($"Invalid qcow2 version {o.Version}");
        }
        if (o.ExtendedL2 && o.Version < 3)
        {
            throw BlockException.Invalid($"Extended L2 entries are only supported with compatibility level 1.1 and above {UseV3}");
        }
        if (!BitOperations.IsPow2(o.ClusterSize) || o.ClusterSize < 512 || o.ClusterSize > (2 << 20))
        {
            throw BlockException.Invalid("Cluster size must be a power of two between 512 and 2048k");
        }
        if (o.ExtendedL2 && o.ClusterSize < 16384)
        {
            throw BlockException.Invalid("Extended L2 entries are only supported with cluster sizes of at least 16384 bytes");
        }
        if (o.BackingFile is not null && o.Preallocation != Preallocation.Off && !o.ExtendedL2)
        {
            throw BlockException.Invalid("Backing file and preallocation can only be used at the same time if extended_l2 is on");
        }
        if (o.BackingFile is null && o.BackingFormat is not null)
        {
            throw BlockException.Invalid("Backing format cannot be used without backing file");
        }
        if (o.LazyRefcounts && o.Version < 3)
        {
            throw BlockException.Invalid($"Lazy refcounts only supported with compatibility level 1.1 and above {UseV3}");
        }
        if (!BitOperations.IsPow2(o.RefcountBits) || o.RefcountBits > 64)
        {
            throw BlockException.Invalid("Refcount width must be a power of two and may not exceed 64 bits");
        }
        if (o.RefcountBits != 16 && o.Version < 3)
        {
            throw BlockException.Invalid($"Different refcount widths than 16 bits require compatibility level 1.1 or above {UseV3}");
        }
        if (o.DataFileRaw && o.DataFile is null)
        {
            throw BlockException.Invalid("data-file-raw requires data-file");
        }
        if (o.DataFileRaw && o.BackingFile is not null)
        {
            throw BlockException.Invalid("Backing file and data-file-raw cannot be used at the same time");
        }
        if (o.DataFile is not null && o.Version < 3)
        {
            throw BlockException.Invalid($"External data files are only supported with compatibility level 1.1 and above {UseV3}");
        }
        // qsd opens the data file here; with one, the compression check below cannot fail
        // (a v2 image was refused above), so its place relative to the open does not show.
        if (o.CompressionType != CompressionType.Zlib && o.Version < 3)
        {
            throw BlockException.Invalid($"Non-zlib compression type is only supported with compatibility level 1.1 and above {UseV3}");
        }
    }

    /// <summary>
    /// The checks qsd only meets after writing the first header (while giving the image its
    /// size and backing file), so their errors conclude the job after the command's reply.
    /// </summary>
    public static void ValidateLate(Qcow2CreateOptions o)
    {
        // A negative size is a uint64 past 2^63, far too large.
        long bytesPerL2 = (long)o.ClusterSize * (o.ClusterSize / (o.ExtendedL2 ? 16 : 8));
        if (o.Size < 0 || (o.Size / bytesPerL2 + (o.Size % bytesPerL2 != 0 ? 1 : 0)) * 8 > Qcow2Limits.MaxL1Bytes)
        {
            throw BlockException.Invalid("Could not resize image: Failed to grow the L1 table: File too large");
        }
        if (o.BackingFile is { } name && Encoding.UTF8.GetByteCount(name) > Qcow2Header.MaxBackingNameLength)
        {
            throw BlockException.Invalid("Backing file name too long");
        }
    }
}
