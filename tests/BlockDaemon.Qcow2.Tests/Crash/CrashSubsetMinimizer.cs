namespace BlockDaemon.Qcow2.Tests.Crash;

/// <summary>
/// Shrinks the surviving requests of a failing crash point: drops one request at a time
/// (newest first), then single pieces, keeping each drop that still fails, within a time budget.
/// The result names the few unflushed requests whose presence (or absence) breaks the image.
/// </summary>
internal static class CrashSubsetMinimizer
{
    public static async Task<(CrashSubset Subset, string Failure)> MinimizeAsync(
        CrashSubset subset, string failure, Func<CrashSubset, Task<string?>> fails, TimeSpan budget)
    {
        var deadline = DateTime.UtcNow + budget;
        foreach (int index in subset.Pieces.Keys.Reverse().ToList())
        {
            if (DateTime.UtcNow > deadline)
            {
                return (subset, failure);
            }
            if (!subset.Pieces[index].Any(x => x))
            {
                continue;
            }
            var candidate = subset.Without(index);
            if (await fails(candidate) is { } f)
            {
                (subset, failure) = (candidate, f);
            }
        }
        foreach (var (index, flags) in subset.Pieces.ToList())
        {
            for (int p = 0; p < flags.Length && flags.Length > 1; p++)
            {
                if (DateTime.UtcNow > deadline)
                {
                    return (subset, failure);
                }
                if (!subset.Pieces[index][p])
                {
                    continue;
                }
                var candidate = subset.Without(index, p);
                if (await fails(candidate) is { } f)
                {
                    (subset, failure) = (candidate, f);
                }
            }
        }
        return (subset, failure);
    }
}
