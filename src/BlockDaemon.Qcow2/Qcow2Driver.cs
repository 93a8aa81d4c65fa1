using System.Buffers.Binary;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;
using BlockDaemon.Qcow2.Engine;
using BlockDaemon.Qcow2.Format;

namespace BlockDaemon.Qcow2;

/// <summary>
/// The qcow2 format driver. Metadata (L1/L2 tables, refcounts, header) changes under one async
/// lock; guest data reads and in-place overwrites run outside it. Allocating writes hold the
/// lock from allocation to the L2 update, so two writes never allocate the same guest cluster.
/// Metadata reaches the disk in dependency order on flush: refcount blocks, then the refcount
/// table, then L2 tables and L1, each step made durable before the next (see FlushMetadataAsync).
/// </summary>
public sealed partial class Qcow2Driver : IBlockDriver, IImageInfoSource, IInternalSnapshots
{
    // Guards every metadata structure below (caches, L1, refcounts, header, pending frees).
    private readonly SemaphoreSlim _lock = new(1, 1);
    private readonly BlockChild _file;
    private readonly BlockChild _data;
    // Changed only by the graph, with the node drained (IBackingLink.ReplaceBacking), so requests
    // see one edge or the other.
    private volatile BlockChild? _backing;
    private readonly BlockNode _node;
    private readonly ClusterMap _map;
    private RefcountStore _refcounts;
    private readonly int _clusterBits;
    private readonly int _clusterSize;
    private readonly DiscardPolicy _passDiscard;
    private Qcow2Header _header;
    private long _size;
    private byte[]? _decompressedCluster;
    private ulong _decompressedEntry;

    internal Qcow2Driver(BlockNode node, BlockChild file, BlockChild? dataFile, BlockChild? backing, Qcow2Header header,
        ClusterMap map, RefcountStore refcounts, IReadOnlyList<SnapshotEntry> snapshots, long snapshotTableBytes, DiscardPolicy passDiscard)
    {
        _node = node;
        _file = file;
        _data = dataFile ?? file;
        _backing = backing;
        _header = header;
        _map = map;
        _refcounts = refcounts;
        _clusterBits = header.ClusterBits;
        _clusterSize = header.ClusterSize;
        _size = header.Size;
        _passDiscard = passDiscard;
        Snapshots = snapshots;
        _snapshotTableBytes = snapshotTableBytes;
        _map.EvictL2 = EvictL2Async;
        AttachRefcounts(refcounts);
        Limits = new DriverLimits
        {
            MaxTransfer = 32 << 20,
            SupportsWriteZeroes = true,
            SupportsDiscard = true,
            SupportsTruncate = true,
            SupportsCompressedWrites = dataFile is null,
        };
    }

    public string DriverName => "qcow2";
    public DriverLimits Limits { get; }
    public long Length => _size;
    public string DisplayName => _file.Node.Driver.DisplayName;
    public long? AllocatedBytes => _file.Node.Driver.AllocatedBytes;
    internal Qcow2Header Header => _header;
    internal IReadOnlyList<SnapshotEntry> Snapshots { get; private set; }
    public BlockChild? Backing => _backing;

    private bool IsV3 => _header.Version >= 3;
    private bool HasDataFile => !ReferenceEquals(_data, _file);
    private bool DataFileRaw => HasDataFile && (_header.Autoclear & AutoclearFeatures.DataFileRaw) != 0;

    // Offset 0 means "unallocated", except in an external data file where 0 is a valid host
    // offset; there every cluster has refcount 1, so the COPIED flag tells the two apart.
    private bool IsAllocated(ulong entry) =>
        (entry & TableEntries.OffsetMask) != 0 || (HasDataFile && (entry & (TableEntries.Copied | TableEntries.Compressed)) == TableEntries.Copied);

    public ImageInfo GetImageInfo()
    {
        var specific = new List<KeyValuePair<string, object?>>
        {
            new("compat", IsV3 ? "1.1" : "0.10"),
        };
        if (IsV3)
        {
            specific.Add(new("lazy-refcounts", (_header.Compatible & CompatibleFeatures.LazyRefcounts) != 0));
            specific.Add(new("refcount-bits", 1L << _header.RefcountOrder));
            specific.Add(new("corrupt", (_header.Incompatible & IncompatibleFeatures.Corrupt) != 0));
            specific.Add(new("extended-l2", _header.ExtendedL2));
            if (_header.DataFile is { } dataFile)
            {
                specific.Add(new("data-file", dataFile));
                specific.Add(new("data-file-raw", (_header.Autoclear & AutoclearFeatures.DataFileRaw) != 0));
            }
        }
        else
        {
            specific.Add(new("refcount-bits", 16L));
        }
        AddBitmapInfo(specific);
        specific.Add(new("compression-type", _header.Compression == CompressionType.Zstd ? "zstd" : "zlib"));
        return new ImageInfo
        {
            ClusterSize = _clusterSize,
            DirtyFlag = (_header.Incompatible & IncompatibleFeatures.Dirty) != 0,
            BackingFileName = _header.BackingFileName,
            BackingFormat = _header.BackingFormat,
            Snapshots = Snapshots.Select(ToImageSnapshot).ToList(),
            FormatSpecificType = "qcow2",
            FormatSpecific = specific,
        };
    }

    public async ValueTask FlushAsync(CancellationToken ct)
    {
        await SyncBitmapsAsync(ct).ConfigureAwait(false);
        await _lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (!_markedCorrupt)
            {
                await FlushMetadataAsync(ct).ConfigureAwait(false);
            }
        }
        finally
        {
            _lock.Release();
        }
        await _file.FlushAsync(ct).ConfigureAwait(false);
        if (!ReferenceEquals(_data, _file))
        {
            await _data.FlushAsync(ct).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Makes the metadata on disk match memory, in an order where a crash at any point leaves
    /// at worst leaked clusters: refcount increments are durable before any L2/L1 entry uses
    /// the cluster (and guest data before the entry that maps it); references are dropped
    /// (pending frees) only once the entries that held them are durable.
    /// </summary>
    private async ValueTask FlushMetadataAsync(CancellationToken ct)
    {
        bool mappingDirty = _map.Cache.DirtyTables.Any() || _map.L1Dirty;
        if (_refcounts.Cache.DirtyTables.Any() || _refcounts.TableDirty)
        {
            await _refcounts.WriteBlocksAsync(ct).ConfigureAwait(false);
            if (_refcounts.TableDirty)
            {
                await SyncFilesAsync(ct).ConfigureAwait(false);
                await _refcounts.WriteTableAsync(ct).ConfigureAwait(false);
            }
        }
        if (mappingDirty)
        {
            await SyncFilesAsync(ct).ConfigureAwait(false);
            await _map.WriteTablesAsync(ct).ConfigureAwait(false);
            if (_map.L1Dirty)
            {
                await _file.FlushAsync(ct).ConfigureAwait(false);
                await _map.WriteL1Async(ct).ConfigureAwait(false);
            }
        }
        if (_refcounts.HasPendingFrees)
        {
            await _file.FlushAsync(ct).ConfigureAwait(false);
            var freed = await _refcounts.ApplyPendingFreesAsync(ct).ConfigureAwait(false);
            // The cluster compressed data was being packed into may be among them.
            _compressedTail = 0;
            _tableClusters = null;
            await _refcounts.WriteBlocksAsync(ct).ConfigureAwait(false);
            foreach (var (cluster, reason) in freed)
            {
                _map.Cache.Remove((ulong)cluster << _clusterBits);
                _refcounts.Cache.Remove((ulong)cluster << _clusterBits);
                // QEMU may end the file inside its last cluster (extended L2 writes only the
                // subclusters it needs): discard only what lies within the file.
                long discardLength = Math.Min(_clusterSize, _file.Length - (cluster << _clusterBits));
                if (_passDiscard.Passes(reason) && discardLength > 0)
                {
                    await _file.DiscardAsync(cluster << _clusterBits, discardLength, ct).ConfigureAwait(false);
                }
            }
        }
    }

    private async ValueTask SyncFilesAsync(CancellationToken ct)
    {
        if (!ReferenceEquals(_data, _file))
        {
            await _data.FlushAsync(ct).ConfigureAwait(false);
        }
        await _file.FlushAsync(ct).ConfigureAwait(false);
    }

    // An L2 table may only reach the disk after the refcounts of what it maps are durable.
    private async ValueTask EvictL2Async(CachedTable table, CancellationToken ct)
    {
        await _refcounts.WriteBlocksAsync(ct).ConfigureAwait(false);
        if (_refcounts.TableDirty)
        {
            await SyncFilesAsync(ct).ConfigureAwait(false);
            await _refcounts.WriteTableAsync(ct).ConfigureAwait(false);
        }
        await SyncFilesAsync(ct).ConfigureAwait(false);
        await _map.WriteTableAsync(table, ct).ConfigureAwait(false);
    }

    private async ValueTask OnRefcountTableMovedAsync(ulong offset, int clusters, CancellationToken ct)
    {
        var bytes = new byte[12];
        BinaryPrimitives.WriteUInt64BigEndian(bytes, offset);
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(8), (uint)clusters);
        await _file.WriteAsync(48, bytes, WriteFlags.None, ct).ConfigureAwait(false);
        await _file.FlushAsync(ct).ConfigureAwait(false);
        _header = _header with { RefcountTableOffset = offset, RefcountTableClusters = (uint)clusters };
    }

    // QEMU's bdrv_default_perms: "file" holds metadata and data; "backing" is read for COW only.
    public (BlockPermissions Perm, BlockPermissions Shared) ChildPermissions(BlockChild child, BlockPermissions parentPerm, BlockPermissions parentShared)
    {
        if (child.Role == "backing")
        {
            var perm = parentPerm & BlockPermissions.ConsistentRead;
            var shared = (parentShared & BlockPermissions.Write) != 0 ? BlockPermissions.Write | BlockPermissions.Resize : BlockPermissions.None;
            shared |= BlockPermissions.ConsistentRead | BlockPermissions.GraphMod | BlockPermissions.WriteUnchanged;
            return (perm, shared);
        }
        var filePerm = parentPerm & BlockPermissions.Passthrough;
        var fileShared = (parentShared & BlockPermissions.Passthrough) | (BlockPermissions.All & ~BlockPermissions.Passthrough);
        if (child.Role == "file")
        {
            if (!_node.ReadOnly)
            {
                filePerm |= BlockPermissions.Write | BlockPermissions.Resize;
            }
            filePerm |= BlockPermissions.ConsistentRead;
            fileShared &= ~(BlockPermissions.Write | BlockPermissions.Resize);
        }
        fileShared &= ~BlockPermissions.Resize;
        if ((filePerm & BlockPermissions.WriteUnchanged) != 0)
        {
            filePerm |= BlockPermissions.Write;
        }
        if ((filePerm & BlockPermissions.Write) != 0)
        {
            filePerm |= BlockPermissions.Resize;
        }
        return (filePerm, fileShared);
    }

    public void CheckPermissions(BlockPermissions perm, BlockPermissions shared)
    {
    }

    public void SetPermissions(BlockPermissions perm, BlockPermissions shared)
    {
    }

    // Becoming an external snapshot's backing image: no write comes after this, so the
    // metadata and the file's length are made final now, as closing would.
    public async ValueTask PrepareReadOnlyAsync(CancellationToken ct)
    {
        await SyncBitmapsAsync(ct, exact: true).ConfigureAwait(false);
        await FlushAsync(ct).ConfigureAwait(false);
        await TrimGrownTailAsync(ct).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await StopCacheCleanerAsync().ConfigureAwait(false);
        if (!_node.ReadOnly)
        {
            await SyncBitmapsAsync(CancellationToken.None, exact: true).ConfigureAwait(false);
            await FlushAsync(CancellationToken.None).ConfigureAwait(false);
            await TrimGrownTailAsync(CancellationToken.None).ConfigureAwait(false);
        }
        _lock.Dispose();
        _bitmapLock.Dispose();
    }
}
