namespace BlockDaemon.Core.Jobs;

/// <summary>QEMU's JobType, in QEMU's order.</summary>
public enum JobType
{
    Commit,
    Stream,
    Mirror,
    Backup,
    Create,
    Amend,
    SnapshotLoad,
    SnapshotSave,
    SnapshotDelete,
}

public static class JobTypeNames
{
    private static readonly string[] Names =
        ["commit", "stream", "mirror", "backup", "create", "amend", "snapshot-load", "snapshot-save", "snapshot-delete"];

    public static string ToQapi(this JobType type) => Names[(int)type];
}
