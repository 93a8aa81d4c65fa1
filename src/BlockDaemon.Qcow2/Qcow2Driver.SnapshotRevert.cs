using System.Buffers.Binary;
using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Io;
using BlockDaemon.Qcow2.Engine;
using BlockDaemon.Qcow2.Format;

namespace BlockDaemon.Qcow2;

/// <summary>
/// Reverting the active image to an internal snapshot (what QEMU's qcow2_snapshot_goto does,
/// in an order that survives a crash at any step with at worst leaked clusters):
/// <list type="number">
/// <item>the image takes the snapshot's size (an ordinary resize, as in QEMU);</item>
/// <item>everything the snapshot's L1 table references gains one reference, made durable;</item>
/// <item>a copy of the snapshot's L1 table, without COPIED flags (every table in it is now
/// shared), is written to new clusters and made durable;</item>
/// <item>one header write switches l1_size and l1_table_offset to the copy; QEMU instead
/// overwrites the active L1 table in place, which a crash can leave half old, half new;</item>
/// <item>only then does everything the old active table referenced lose its reference, and
/// COPIED is set again where the active image is a cluster's only owner.</item>
/// </list>
/// The caller keeps other I/O away from the node while this runs (blockimg owns its image).
/// </summary>
public sealed partial class Qcow2Driver
{
    /// <summary>
    /// Makes the active image read as the first snapshot <paramref name="selector"/> matches.
    /// Failures are <see cref="BlockException"/>s carrying QEMU's errno; a message QEMU prints
    /// itself before failing is the exception's message.
    /// </summary>
    public async ValueTask RevertToSnapshotAsync(SnapshotSelector selector, CancellationToken ct)
    {
        if (HasDataFile)
        {
            // QEMU fails here with the errno alone, saying nothing more.
            throw new BlockException(BlockErrorKind.NotSupported, Errno.Text(Errno.ENotSup)) { Errno = Errno.ENotSup };
        }
        int index = selector.IndexIn(Snapshots, s => s.Id, s => s.Name);
        if (index < 0)
        {
            throw new BlockException(BlockErrorKind.NotFound, "Can't find the snapshot") { Errno = Errno.ENoEnt };
        }
        var snapshot = Snapshots[index];
        ValidateSnapshotL1(snapshot);
        if (snapshot.UnknownExtraData.Length > 0)
        {
            throw new BlockException(BlockErrorKind.NotSupported, "qcow2: Loading snapshots with unknown extra data is not supported") { Errno = Errno.ENotSup };
        }
        if (_node.ReadOnly)
        {
            throw new BlockException(BlockErrorKind.ReadOnly, Errno.Text(Errno.EPerm)) { Errno = Errno.EPerm };
        }
        // Snapshots of version 2 images need not record their size: they have the image's.
        long diskSize = snapshot.DiskSize is { } recorded ? (long)recorded : _size;
        if (diskSize != _size)
        {
            await TruncateAsync(diskSize, ct).ConfigureAwait(false);
        }

        await AcquireExclusiveAsync(ct).ConfigureAwait(false);
        try
        {
            await BeginWriteAsync(ct).ConfigureAwait(false);
            await FlushMetadataAsync(ct).ConfigureAwait(false);
            var snapshotL1 = await ReadSnapshotL1Async(snapshot, ct).ConfigureAwait(false);
            int entries = Math.Max(_map.L1.Length, snapshotL1.Length);
            if (entries == 0)
            {
                return;
            }

            await AddReferencesAsync(snapshotL1, ct).ConfigureAwait(false);
            await FlushMetadataAsync(ct).ConfigureAwait(false);

            var l1 = new ulong[entries];
            for (int i = 0; i < snapshotL1.Length; i++)
            {
                l1[i] = snapshotL1[i] & ~TableEntries.Copied;
            }
            ulong offset = await WriteL1AndSwitchAsync(l1, ct).ConfigureAwait(false);

            var oldL1 = _map.L1;
            ulong oldOffset = _map.L1Offset;
            _map.ReplaceL1(l1, offset);
            _header = _header with { L1Size = (uint)entries, L1TableOffset = offset };

            // The old active table is off disk: what it alone referenced is freed.
            await DropSnapshotReferencesAsync(oldL1, ct).ConfigureAwait(false);
            FreeLater(oldOffset, oldL1.Length * 8L);
            await FlushMetadataAsync(ct).ConfigureAwait(false);
            await RestoreCopiedFlagsAsync(ct).ConfigureAwait(false);
            await FlushMetadataAsync(ct).ConfigureAwait(false);
        }
        finally
        {
            _lock.Release();
        }
    }
}
