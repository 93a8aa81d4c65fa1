namespace BlockDaemon.Core.Io;

/// <summary>
/// Which internal snapshot a request means, by id, by name or by both (QEMU's
/// find_snapshot_by_id_and_name): with both given both must match; the first match in table
/// order wins, since ids and names need not be unique in images written by other tools.
/// </summary>
public readonly record struct SnapshotSelector(string? Id, string? Name)
{
    public bool IsEmpty => Id is null && Name is null;

    public bool Matches(string id, string name) =>
        !IsEmpty && (Id is null || Id == id) && (Name is null || Name == name);

    /// <summary>The index of the first snapshot that matches, or -1.</summary>
    public int IndexIn<T>(IReadOnlyList<T> snapshots, Func<T, string> id, Func<T, string> name)
    {
        for (int i = 0; i < snapshots.Count; i++)
        {
            if (Matches(id(snapshots[i]), name(snapshots[i])))
            {
                return i;
            }
        }
        return -1;
    }
}
