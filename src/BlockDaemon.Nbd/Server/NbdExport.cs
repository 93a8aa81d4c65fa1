using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Nbd.Protocol;

namespace BlockDaemon.Nbd.Server;

/// <summary>
/// A node offered to NBD clients under a name. It holds its own 'root' edge to the node, with the
/// permissions qemu's NBD export takes: consistent read (and write when writable), sharing
/// everything but resize, since clients have already been told the size.
/// </summary>
public sealed class NbdExport
{
    private readonly BlockUser _user;

    private NbdExport(string name, string? description, bool writable, bool writeThrough, BlockUser user)
    {
        Name = name;
        Description = description;
        Writable = writable;
        WriteThrough = writeThrough;
        _user = user;
        Child = user.Root!;
    }

    public string Name { get; }

    public string? Description { get; }

    public bool Writable { get; }

    /// <summary>Every write is flushed before it is acknowledged (qemu: the write cache is off).</summary>
    public bool WriteThrough { get; }

    /// <summary>
    /// The qemu:dirty-bitmap contexts offered, in the order block-export-add named them. Each
    /// bitmap is busy while the export lasts (set by <see cref="OfferDirtyBitmaps"/>).
    /// </summary>
    public IReadOnlyList<NbdDirtyBitmapContext> DirtyBitmaps { get; private set; } = [];

    /// <summary>Offers bitmaps and marks them busy, as qsd does. Runs on the control plane.</summary>
    public void OfferDirtyBitmaps(IReadOnlyList<NbdDirtyBitmapContext> bitmaps)
    {
        foreach (var context in bitmaps)
        {
            context.Bitmap.AddBusyUser();
        }
        DirtyBitmaps = bitmaps;
    }

    /// <summary>The edge every request of every connection goes through.</summary>
    public BlockChild Child { get; }

    /// <summary>Attaches an export user to <paramref name="node"/>. Runs on the control plane.</summary>
    public static NbdExport Attach(BlockGraph graph, BlockNode node, string name, string? description = null, bool writable = false, bool writeThrough = false)
    {
        if (System.Text.Encoding.UTF8.GetByteCount(name) > NbdLimits.MaxString)
        {
            throw BlockException.Invalid($"Export name '{name[..16]}...' is longer than {NbdLimits.MaxString} bytes");
        }
        if (writable && node.ReadOnly)
        {
            throw new BlockException(BlockErrorKind.ReadOnly, "Cannot export read-only node as writable");
        }
        var perm = BlockPermissions.ConsistentRead | (writable ? BlockPermissions.Write : BlockPermissions.None);
        var user = graph.AttachUser(null, node, perm, BlockPermissions.All & ~BlockPermissions.Resize);
        return new NbdExport(name, description, writable, writeThrough, user);
    }

    /// <summary>Gives the edge back. Runs on the control plane, after the server dropped the export.</summary>
    public void Detach(BlockGraph graph)
    {
        foreach (var context in DirtyBitmaps)
        {
            context.Bitmap.RemoveBusyUser();
        }
        DirtyBitmaps = [];
        graph.DetachUser(_user);
    }

    /// <summary>
    /// The flags qsd 7.2 sends: flush, FUA and cache always; trim, write-zeroes and fast-zero only
    /// when writable; DF only once structured replies are negotiated; multi-conn, because every
    /// connection goes through the same node, so a flush on one covers writes acknowledged on all.
    /// </summary>
    public NbdTransmissionFlags TransmissionFlags(bool structuredReplies)
    {
        var flags = NbdTransmissionFlags.HasFlags | NbdTransmissionFlags.SendFlush | NbdTransmissionFlags.SendFua
            | NbdTransmissionFlags.SendCache | NbdTransmissionFlags.CanMultiConn;
        flags |= Writable
            ? NbdTransmissionFlags.SendTrim | NbdTransmissionFlags.SendWriteZeroes | NbdTransmissionFlags.SendFastZero
            : NbdTransmissionFlags.ReadOnly;
        if (structuredReplies)
        {
            flags |= NbdTransmissionFlags.SendDf;
        }
        return flags;
    }
}
