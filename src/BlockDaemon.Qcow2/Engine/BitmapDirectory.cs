using BlockDaemon.Qcow2.Format;

namespace BlockDaemon.Qcow2.Engine;

/// <summary>
/// Reads and validates the persistent bitmap directory the way QEMU loads it at open, with its
/// messages, so an image QEMU refuses is refused here too and every bitmap we list is sane.
/// </summary>
internal static class BitmapDirectory
{
    private const uint MaxTableSize = 0x800_0000;
    private const long MaxPhysicalBytes = 0x2000_0000;
    private const int MinGranularityBits = 9;
    private const int MaxGranularityBits = 31;
    private const int MaxNameSize = 1023;

    public static List<BitmapDirectoryEntry> Parse(ReadOnlySpan<byte> directory, uint expectedCount, int clusterSize, long virtualSize)
    {
        if (directory.Length == 0)
        {
            throw Qcow2Errors.Invalid("Requested bitmap directory size is zero");
        }
        var entries = new List<BitmapDirectoryEntry>();
        int offset = 0;
        while (offset < directory.Length)
        {
            if (directory.Length - offset < BitmapDirectoryEntry.FixedLength)
            {
                throw Broken();
            }
            if (entries.Count + 1 > expectedCount)
            {
                throw Qcow2Errors.Invalid("More bitmaps found than specified in header extension");
            }
            if (!BitmapDirectoryEntry.TryRead(directory[offset..], out var entry, out int length))
            {
                throw Broken();
            }
            if (entry!.ExtraDataSize != 0)
            {
                throw Qcow2Errors.Invalid("Bitmap extra data is not supported");
            }
            if (!Satisfied(entry, clusterSize, virtualSize))
            {
                throw Qcow2Errors.Invalid($"Bitmap '{entry.Name}' doesn't satisfy the constraints");
            }
            entries.Add(entry);
            offset += length;
        }
        if (entries.Count != expectedCount)
        {
            throw Qcow2Errors.Invalid("Less bitmaps found than specified in header extension");
        }
        return entries;
    }

    private static Core.Errors.BlockException Broken() => Qcow2Errors.Invalid("Broken bitmap directory");

    // QEMU's check_dir_entry.
    private static bool Satisfied(BitmapDirectoryEntry e, int clusterSize, long virtualSize)
    {
        if (e.TableSize == 0 || e.TableOffset == 0 || e.TableOffset % (ulong)clusterSize != 0 || e.TableSize > MaxTableSize
            || e.GranularityBits is > MaxGranularityBits or < MinGranularityBits
            || (e.Flags & BitmapDirectoryEntry.ReservedFlags) != 0 || e.NameSize > MaxNameSize
            || e.Type != BitmapDirectoryEntry.DirtyTrackingType)
        {
            return false;
        }
        long physical = (long)e.TableSize * clusterSize;
        if (physical > MaxPhysicalBytes)
        {
            return false;
        }
        // A bitmap saved consistently must cover the whole disk (an in-use one may be stale after a resize).
        return e.InUse || (UInt128)virtualSize <= ((UInt128)physical * 8) << e.GranularityBits;
    }
}
