using BlockDaemon.Qcow2.Format;

namespace BlockDaemon.Qcow2;

/// <summary>
/// The persistent bitmaps stored in the image, as its directory described them at open.
/// They are listed (qcow2 format-specific info) while the bitmaps autoclear bit says they are
/// valid; blockd does not yet maintain them, so the first write clears that bit (see BeginWriteAsync).
/// </summary>
public sealed partial class Qcow2Driver
{
    internal IReadOnlyList<BitmapDirectoryEntry> StoredBitmaps { get; init; } = [];

    private void AddBitmapInfo(List<KeyValuePair<string, object?>> specific)
    {
        if (StoredBitmaps.Count == 0 || (_header.Autoclear & AutoclearFeatures.Bitmaps) == 0)
        {
            return;
        }
        var list = new List<object?>();
        foreach (var bitmap in StoredBitmaps)
        {
            var flags = new List<object?>();
            if (bitmap.InUse)
            {
                flags.Add("in-use");
            }
            if (bitmap.Auto)
            {
                flags.Add("auto");
            }
            list.Add(new List<KeyValuePair<string, object?>>
            {
                new("name", bitmap.Name),
                new("granularity", bitmap.Granularity),
                new("flags", flags),
            });
        }
        specific.Add(new("bitmaps", list));
    }
}
