using BlockDaemon.Core.Bitmaps;
using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Nbd.Protocol;
using BlockDaemon.Nbd.Server.MetaContexts;

namespace BlockDaemon.Nbd.Server;

/// <summary>
/// A node offered to NBD clients under a name. It holds its own 'root' edge to the node, with the
/// permissions qemu's NBD export takes: consistent read (and write when writable), sharing
/// everything but resize, since clients have already been told the size.
/// </summary>
public sealed class NbdExport
{
    private readonly BlockUser _user;
    private bool _bitmapsReleased;

    private NbdExport(string name, string? description, bool writable, bool writeThrough, BlockUser user, IReadOnlyList<INbdMetaContext> metaContexts)
    {
        MetaContexts = metaContexts;
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

    /// <summary>The metadata contexts offered, in the order qemu lists them (base:allocation first).</summary>
    public IReadOnlyList<INbdMetaContext> MetaContexts { get; }

    /// <summary>The edge every request of every connection goes through.</summary>
    public BlockChild Child { get; }

    /// <summary>
    /// Attaches an export user to <paramref name="node"/>. Runs on the control plane.
    /// <paramref name="dirtyBitmaps"/> (exported name, bitmap), checked by the caller, become
    /// qemu:dirty-bitmap contexts and stay busy while the export lasts, as qsd marks them.
    /// </summary>
    public static NbdExport Attach(BlockGraph graph, BlockNode node, string name, string? description = null, bool writable = false, bool writeThrough = false,
        bool allocationDepth = false, IReadOnlyList<(string Name, DirtyBitmap Bitmap)>? dirtyBitmaps = null)
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
        var metaContexts = new List<INbdMetaContext> { BaseAllocationContext.Instance };
        if (allocationDepth)
        {
            metaContexts.Add(AllocationDepthContext.Instance);
        }
        for (int i = 0; i < (dirtyBitmaps?.Count ?? 0); i++)
        {
            var (bitmapName, bitmap) = dirtyBitmaps![i];
            metaContexts.Add(new DirtyBitmapContext(bitmapName, bitmap, i));
            bitmap.AddBusyUser();
        }
        return new NbdExport(name, description, writable, writeThrough, user, metaContexts);
    }

    /// <summary>Gives the edge back. Runs on the control plane, after the server dropped the export.</summary>
    public void Detach(BlockGraph graph)
    {
        ReleaseDirtyBitmaps();
        graph.DetachUser(_user);
    }

    /// <summary>Detaches, and closes the node if nothing else owns or uses it (QEMU drops its last reference).</summary>
    public ValueTask DetachAsync(BlockGraph graph)
    {
        ReleaseDirtyBitmaps();
        return graph.ReleaseUserAsync(_user);
    }

    private void ReleaseDirtyBitmaps()
    {
        if (_bitmapsReleased)
        {
            return;
        }
        _bitmapsReleased = true;
        foreach (var context in MetaContexts.OfType<DirtyBitmapContext>())
        {
            context.Bitmap.RemoveBusyUser();
        }
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
