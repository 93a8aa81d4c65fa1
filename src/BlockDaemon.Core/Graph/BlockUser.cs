namespace BlockDaemon.Core.Graph;

/// <summary>
/// A user of a node that is not itself a node (QEMU's BlockBackend): an export, a job, or a
/// command that needs the node for a moment (block_resize). It holds one 'root' edge.
/// </summary>
public sealed class BlockUser : IBlockParent
{
    public BlockUser(string? name)
    {
        Name = name;
    }

    /// <summary>The device name shown by query-block; null for anonymous users.</summary>
    public string? Name { get; }

    public BlockChild? Root { get; internal set; }

    /// <summary>
    /// A job's hold on a node it works on without doing its I/O as a device (QEMU's child_job
    /// edges): the node is then neither "in use" by a device nor a root node, only busy.
    /// </summary>
    public bool IsJobChild { get; init; }

    /// <summary>
    /// How permission errors name a job's own child (QEMU's child_job: "stream job 's'"); null
    /// for a device.
    /// </summary>
    public string? JobDescription { get; init; }

    /// <summary>
    /// The job that holds this edge (any edge a block job takes, QEMU's child_job): a drain of the
    /// node or of a node below it pauses the job (see BlockGraph.DrainedBeginAsync).
    /// </summary>
    public Jobs.Job? Job { get; set; }

    public string ParentDescription => JobDescription ?? (Name is null ? "an unnamed block device" : $"block device '{Name}'");
}
