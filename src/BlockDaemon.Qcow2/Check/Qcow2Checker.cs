using System.Buffers.Binary;
using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;
using BlockDaemon.Qcow2.Engine;
using BlockDaemon.Qcow2.Format;

namespace BlockDaemon.Qcow2.Check;

/// <summary>
/// Recomputes every cluster's reference count from the metadata (header, refcount structures,
/// active and snapshot L1/L2 tables, data and compressed clusters, snapshot table, bitmaps)
/// and compares it with the stored one. Repair rebuilds the refcount structure from scratch
/// at the end of the file and switches the header to it in one write, so a crash during repair
/// leaves the old (consistent or merely leaky) structure in place.
/// </summary>
public static partial class Qcow2Checker
{
    /// <summary>Above this many clusters the file is not checked (the counts would not fit in memory).</summary>
    private const long MaxClusters = 1L << 28;

    public static async ValueTask<Qcow2CheckResult> CheckAsync(BlockChild file, bool repair, CancellationToken ct)
    {
        var first = new byte[(int)Math.Min(file.Length, 2 << 20)];
        await file.ReadAsync(0, first, ct).ConfigureAwait(false);
        var header = Qcow2Header.Parse(first);
        var state = new CheckState(file, header);
        await state.CountAsync(ct).ConfigureAwait(false);
        var result = await state.CompareAsync(ct).ConfigureAwait(false);
        if (!repair || result.IsClean)
        {
            return result;
        }
        await RebuildAsync(file, header, state, ct).ConfigureAwait(false);
        var after = new CheckState(file, header with { RefcountTableOffset = state.NewTableOffset, RefcountTableClusters = state.NewTableClusters });
        await after.CountAsync(ct).ConfigureAwait(false);
        var remaining = await after.CompareAsync(ct).ConfigureAwait(false);
        return result with
        {
            CorruptionsFixed = result.Corruptions - remaining.Corruptions,
            LeaksFixed = result.Leaks - remaining.Leaks,
        };
    }

    private static async ValueTask RebuildAsync(BlockChild file, Qcow2Header header, CheckState state, CancellationToken ct)
    {
        var (tableStart, tableClusters) = await WriteNewRefcountStructureAsync(file, header, state, header.RefcountOrder, ct).ConfigureAwait(false);
        int bits = header.ClusterBits;
        var fields = new byte[12];
        BinaryPrimitives.WriteUInt64BigEndian(fields, (ulong)tableStart << bits);
        BinaryPrimitives.WriteUInt32BigEndian(fields.AsSpan(8), (uint)tableClusters);
        await file.WriteAsync(48, fields, WriteFlags.None, ct).ConfigureAwait(false);
        await file.FlushAsync(ct).ConfigureAwait(false);
        await state.FixCopiedFlagsAsync(ct).ConfigureAwait(false);
        await file.FlushAsync(ct).ConfigureAwait(false);
        state.NewTableOffset = (ulong)tableStart << bits;
        state.NewTableClusters = (uint)tableClusters;
    }

    /// <summary>
    /// Writes a refcount structure of width 2^<paramref name="refcountOrder"/> bits holding the
    /// counts of a clean image (for amend -o refcount_bits), into clusters nothing references,
    /// and makes it durable; the caller switches the header to it. Returns the table's offset
    /// and size in clusters.
    /// </summary>
    internal static async ValueTask<(ulong TableOffset, uint TableClusters)> WriteRefcountStructureAsync(BlockChild file, int refcountOrder, CancellationToken ct)
    {
        var first = new byte[(int)Math.Min(file.Length, 2 << 20)];
        await file.ReadAsync(0, first, ct).ConfigureAwait(false);
        var header = Qcow2Header.Parse(first);
        var state = new CheckState(file, header);
        await state.CountAsync(ct).ConfigureAwait(false);
        if (state.CountCorruptions > 0)
        {
            throw Qcow2Errors.Corrupt(string.Join("; ", state.CountMessages.Take(3)));
        }
        var (tableStart, tableClusters) = await WriteNewRefcountStructureAsync(file, header, state, refcountOrder, ct).ConfigureAwait(false);
        return ((ulong)tableStart << header.ClusterBits, (uint)tableClusters);
    }

    private static async ValueTask<(long TableStart, long TableClusters)> WriteNewRefcountStructureAsync(BlockChild file, Qcow2Header header, CheckState state, int refcountOrder, CancellationToken ct)
    {
        int cs = header.ClusterSize;
        int bits = header.ClusterBits;
        long entriesPerBlock = ((long)cs * 8) >> refcountOrder;
        // The old refcount table and blocks are replaced: they lose their references.
        var counts = (ulong[])state.Expected.Clone();
        foreach (long c in state.RefcountStructureClusters)
        {
            if (c < counts.Length && counts[c] > 0)
            {
                counts[c]--;
            }
        }
        ulong max = refcountOrder == 6 ? ulong.MaxValue : (1UL << (1 << refcountOrder)) - 1;
        if (counts.Any(c => c > max))
        {
            throw new BlockException(BlockErrorKind.InvalidArgument, "Cannot decrease refcount entry width to " + (1 << refcountOrder) + " bits: Cluster at offset 0x" +
                (Array.FindIndex(counts, c => c > max) * (long)cs).ToString("x", System.Globalization.CultureInfo.InvariantCulture) + " has a refcount of " + counts.First(c => c > max)) { Errno = Errno.EInval };
        }
        var (blocks, tableStart, tableClusters) = PlaceRefcountStructure(state.Expected, entriesPerBlock, cs);
        if (tableClusters * cs > Qcow2Limits.MaxRefcountTableBytes)
        {
            throw Qcow2Errors.NotSupported("The image is too big to rebuild its refcount structure");
        }
        var newStructure = new HashSet<long>(blocks.Values);
        for (long c = 0; c < tableClusters; c++)
        {
            newStructure.Add(tableStart + c);
        }
        await file.EnsureLengthAsync(Math.Max(file.Length, (newStructure.Max() + 1) << bits), ct).ConfigureAwait(false);
        var table = new byte[tableClusters * cs];
        var block = new byte[cs];
        foreach (var (index, at) in blocks.OrderBy(b => b.Key))
        {
            Array.Clear(block);
            for (long i = 0; i < entriesPerBlock; i++)
            {
                long c = index * entriesPerBlock + i;
                ulong value = newStructure.Contains(c) ? 1 : c < counts.Length ? counts[c] : 0;
                Refcounts.Write(block, refcountOrder, i, value);
            }
            await file.WriteAsync(at << bits, block, WriteFlags.None, ct).ConfigureAwait(false);
            BinaryPrimitives.WriteUInt64BigEndian(table.AsSpan((int)(index * 8)), (ulong)at << bits);
        }
        await file.WriteAsync(tableStart << bits, table, WriteFlags.None, ct).ConfigureAwait(false);
        await file.FlushAsync(ct).ConfigureAwait(false);
        return (tableStart, tableClusters);
    }

    /// <summary>
    /// Where the new refcount blocks and table go, as QEMU's rebuild places them: each in the
    /// first clusters nothing references (the old structure still counts as referenced, so a
    /// crash before the header switch leaves it intact), a block only for the ranges that hold
    /// a used cluster, the table contiguous.
    /// </summary>
    private static (Dictionary<long, long> Blocks, long TableStart, long TableClusters) PlaceRefcountStructure(ulong[] expected, long entriesPerBlock, int cs)
    {
        var taken = new HashSet<long>();
        long hint = 0;
        bool Used(long c) => (c < expected.Length && expected[c] != 0) || taken.Contains(c);
        long Allocate(long count)
        {
            for (long c = hint; ; c++)
            {
                long k = 0;
                while (k < count && !Used(c + k))
                {
                    k++;
                }
                if (k < count)
                {
                    c += k;
                    continue;
                }
                for (long i = 0; i < count; i++)
                {
                    taken.Add(c + i);
                }
                if (c == hint)
                {
                    hint = c + count;
                }
                return c;
            }
        }
        long HighestUsed()
        {
            long high = taken.Count > 0 ? taken.Max() : 0;
            for (long c = expected.Length - 1; c > high; c--)
            {
                if (expected[c] != 0)
                {
                    return c;
                }
            }
            return high;
        }
        var blocks = new Dictionary<long, long>();
        long tableStart = -1, tableClusters = 0;
        while (true)
        {
            bool changed = false;
            long lastIndex = HighestUsed() / entriesPerBlock;
            for (long index = 0; index <= lastIndex; index++)
            {
                if (blocks.ContainsKey(index))
                {
                    continue;
                }
                long first = index * entriesPerBlock;
                bool any = false;
                for (long c = first; c < first + entriesPerBlock && !any; c++)
                {
                    any = Used(c);
                }
                if (any)
                {
                    blocks[index] = Allocate(1);
                    changed = true;
                }
            }
            long needTable = Math.Max(1, ((blocks.Keys.Max() + 1) * 8 + cs - 1) / cs);
            if (needTable != tableClusters)
            {
                if (tableStart >= 0)
                {
                    for (long i = 0; i < tableClusters; i++)
                    {
                        taken.Remove(tableStart + i);
                    }
                }
                tableClusters = needTable;
                tableStart = Allocate(tableClusters);
                changed = true;
            }
            if (!changed)
            {
                return (blocks, tableStart, tableClusters);
            }
        }
    }

    private sealed partial class CheckState(BlockChild file, Qcow2Header header)
    {
        private readonly List<string> _messages = [];
        private readonly List<(long Offset, ulong Entry, bool IsL1, long L1Index)> _copiedChecks = [];
        private long _corruptions;
        // qemu-img check's fragmentation info (BlockFragInfo), over the active L2 tables only.
        private long _guestAllocated, _fragmented, _compressed;

        public ulong[] Expected { get; private set; } = [];
        public long HighestReferenced { get; private set; }
        public List<long> RefcountStructureClusters { get; } = [];
        public ulong NewTableOffset { get; set; }
        public uint NewTableClusters { get; set; }

        private int ClusterSize => header.ClusterSize;

        public async ValueTask CountAsync(CancellationToken ct)
        {
            long fileClusters = (file.Length + ClusterSize - 1) / ClusterSize;
            if (fileClusters > MaxClusters)
            {
                throw Qcow2Errors.NotSupported("The image file is too large to check");
            }
            Expected = new ulong[Math.Max(fileClusters, 1)];
            Reference(0, ClusterSize, "header");
            Reference((long)header.RefcountTableOffset, (long)header.RefcountTableClusters * ClusterSize, "refcount table");
            for (long c = 0; c < header.RefcountTableClusters; c++)
            {
                RefcountStructureClusters.Add((long)(header.RefcountTableOffset / (ulong)ClusterSize) + c);
            }
            var refTable = await ReadU64TableAsync(header.RefcountTableOffset, (long)header.RefcountTableClusters * ClusterSize / 8, ct).ConfigureAwait(false);
            foreach (ulong entry in refTable)
            {
                ulong offset = entry & ~TableEntries.RefcountTableReservedMask;
                if (offset != 0)
                {
                    Reference((long)offset, ClusterSize, "refcount block");
                    RefcountStructureClusters.Add((long)(offset / (ulong)ClusterSize));
                }
            }
            await CountL1Async(header.L1TableOffset, header.L1Size, active: true, ct).ConfigureAwait(false);
            await CountSnapshotsAsync(ct).ConfigureAwait(false);
            await CountBitmapsAsync(ct).ConfigureAwait(false);
        }

        private async ValueTask CountL1Async(ulong l1Offset, uint l1Size, bool active, CancellationToken ct)
        {
            if (l1Size == 0)
            {
                return;
            }
            Reference((long)l1Offset, l1Size * 8L, "L1 table");
            var l1 = await ReadU64TableAsync(l1Offset, l1Size, ct).ConfigureAwait(false);
            int entryBytes = header.ExtendedL2 ? 16 : 8;
            var l2 = new byte[ClusterSize];
            for (long i = 0; i < l1.Length; i++)
            {
                ulong l2Offset = l1[i] & TableEntries.OffsetMask;
                if (l2Offset == 0)
                {
                    continue;
                }
                if (!Reference((long)l2Offset, ClusterSize, "L2 table"))
                {
                    continue;
                }
                if (active)
                {
                    _copiedChecks.Add((checked((long)l1Offset + i * 8), l1[i], true, i));
                }
                await file.ReadAsync((long)l2Offset, l2, ct).ConfigureAwait(false);
                ulong nextContiguous = 0;
                for (int j = 0; j < ClusterSize / entryBytes; j++)
                {
                    ulong entry = BinaryPrimitives.ReadUInt64BigEndian(l2.AsSpan(j * entryBytes));
                    if (active)
                    {
                        CountFragmentation(entry, ref nextContiguous);
                    }
                    if ((entry & TableEntries.Compressed) != 0)
                    {
                        var (host, length) = TableEntries.CompressedExtent(entry, header.ClusterBits);
                        long firstCluster = (long)(host >> header.ClusterBits);
                        long lastCluster = (long)((host + length - 1) >> header.ClusterBits);
                        for (long c = firstCluster; c <= lastCluster; c++)
                        {
                            Reference(c * ClusterSize, ClusterSize, "compressed cluster");
                        }
                        continue;
                    }
                    ulong hostOffset = entry & TableEntries.OffsetMask;
                    if (hostOffset == 0 || header.DataFile is not null)
                    {
                        continue;
                    }
                    if ((hostOffset & (ulong)(ClusterSize - 1)) != 0)
                    {
                        Error($"ERROR offset={hostOffset:x}: Cluster is not properly aligned; L2 entry corrupted.");
                        continue;
                    }
                    if (Reference((long)hostOffset, ClusterSize, "data cluster") && active)
                    {
                        _copiedChecks.Add(((long)l2Offset + j * entryBytes, entry, false, i));
                    }
                }
            }
        }

        // As QEMU counts it per L2 table: a compressed cluster is always fragmented; a standard
        // one when it does not follow the previous one of the same table on the host.
        private void CountFragmentation(ulong entry, ref ulong nextContiguous)
        {
            if ((entry & TableEntries.Compressed) != 0)
            {
                _guestAllocated++;
                _compressed++;
                _fragmented++;
                return;
            }
            ulong hostOffset = entry & TableEntries.OffsetMask;
            // Offset 0 is a real cluster in an external data file, told apart by COPIED.
            if (hostOffset == 0 && (header.DataFile is null || (entry & TableEntries.Copied) == 0))
            {
                return;
            }
            _guestAllocated++;
            if (nextContiguous != 0 && hostOffset != nextContiguous)
            {
                _fragmented++;
            }
            nextContiguous = hostOffset + (ulong)ClusterSize;
        }

        private async ValueTask CountSnapshotsAsync(CancellationToken ct)
        {
            if (header.SnapshotCount == 0)
            {
                return;
            }
            long offset = (long)header.SnapshotsOffset;
            long size = 0;
            var buffer = new byte[Math.Min(file.Length - offset, Qcow2Limits.MaxSnapshotTableBytes)];
            await file.ReadAsync(offset, buffer, ct).ConfigureAwait(false);
            var snapshots = new List<SnapshotEntry>();
            for (uint i = 0; i < header.SnapshotCount; i++)
            {
                int n = SnapshotEntry.TryRead(buffer.AsSpan((int)size), out var entry);
                if (n == 0)
                {
                    Error("ERROR snapshot table is truncated");
                    return;
                }
                snapshots.Add(entry!);
                size += n;
            }
            Reference(offset, size, "snapshot table");
            foreach (var snapshot in snapshots)
            {
                await CountL1Async(snapshot.L1TableOffset, snapshot.L1Size, active: false, ct).ConfigureAwait(false);
            }
        }

        private async ValueTask CountBitmapsAsync(CancellationToken ct)
        {
            if (header.FindExtension(HeaderExtensionType.Bitmaps) is not { } ext || (header.Autoclear & AutoclearFeatures.Bitmaps) == 0 || ext.Data.Length < 24)
            {
                return;
            }
            uint count = BinaryPrimitives.ReadUInt32BigEndian(ext.Data);
            ulong dirSize = BinaryPrimitives.ReadUInt64BigEndian(ext.Data.AsSpan(8));
            ulong dirOffset = BinaryPrimitives.ReadUInt64BigEndian(ext.Data.AsSpan(16));
            if (dirSize > 64 << 20 || (long)dirOffset + (long)dirSize > file.Length)
            {
                Error("ERROR bitmap directory is out of range");
                return;
            }
            Reference((long)dirOffset, (long)dirSize, "bitmap directory");
            var dir = new byte[dirSize];
            await file.ReadAsync((long)dirOffset, dir, ct).ConfigureAwait(false);
            int pos = 0;
            for (uint i = 0; i < count && pos + 24 <= dir.Length; i++)
            {
                ulong tableOffset = BinaryPrimitives.ReadUInt64BigEndian(dir.AsSpan(pos));
                uint tableSize = BinaryPrimitives.ReadUInt32BigEndian(dir.AsSpan(pos + 8));
                int nameSize = BinaryPrimitives.ReadUInt16BigEndian(dir.AsSpan(pos + 18));
                uint extra = BinaryPrimitives.ReadUInt32BigEndian(dir.AsSpan(pos + 20));
                pos += (int)((24 + extra + (uint)nameSize + 7) & ~7u);
                if (tableSize == 0 || (long)tableOffset + tableSize * 8L > file.Length)
                {
                    continue;
                }
                Reference((long)tableOffset, tableSize * 8L, "bitmap table");
                var table = await ReadU64TableAsync(tableOffset, tableSize, ct).ConfigureAwait(false);
                foreach (ulong entry in table)
                {
                    ulong data = entry & TableEntries.OffsetMask;
                    if (data != 0)
                    {
                        Reference((long)data, ClusterSize, "bitmap data");
                    }
                }
            }
        }

        /// <summary>Counts one reference to every cluster of [offset, offset+length); false when out of range.</summary>
        private bool Reference(long offset, long length, string what)
        {
            if (length <= 0)
            {
                return true;
            }
            long firstCluster = offset / ClusterSize;
            long lastCluster = (offset + length - 1) / ClusterSize;
            if (offset < 0 || lastCluster >= Expected.Length)
            {
                Error($"ERROR {what} at offset 0x{offset:x} lies beyond the end of the image file");
                return false;
            }
            for (long c = firstCluster; c <= lastCluster; c++)
            {
                Expected[c]++;
            }
            HighestReferenced = Math.Max(HighestReferenced, lastCluster);
            return true;
        }

        private void Error(string message)
        {
            _corruptions++;
            _messages.Add(message);
        }

        public async ValueTask<Qcow2CheckResult> CompareAsync(CancellationToken ct)
        {
            var store = new RefcountStore(file, header.ClusterBits, header.RefcountOrder,
                await ReadU64TableAsync(header.RefcountTableOffset, (long)header.RefcountTableClusters * ClusterSize / 8, ct).ConfigureAwait(false),
                header.RefcountTableOffset, Expected.Length, 64);
            long leaks = 0, corruptions = _corruptions, allocated = 0, highest = 0;
            var messages = new List<string>(_messages);
            var stored = new ulong[Expected.Length];
            for (long c = 0; c < Expected.Length; c++)
            {
                stored[c] = await store.GetAsync(c, ct).ConfigureAwait(false);
                if (Expected[c] != 0)
                {
                    allocated++;
                }
                if (Expected[c] != 0 || stored[c] != 0)
                {
                    highest = c;
                }
                if (stored[c] == Expected[c])
                {
                    continue;
                }
                if (stored[c] > Expected[c])
                {
                    // As qemu-img counts it: a count above the references wastes space, nothing more.
                    leaks++;
                    messages.Add($"Leaked cluster {c} refcount={stored[c]} reference={Expected[c]}");
                }
                else
                {
                    corruptions++;
                    messages.Add($"ERROR cluster {c} refcount={stored[c]} reference={Expected[c]}");
                }
            }
            foreach (var check in _copiedChecks)
            {
                long cluster = (long)((check.Entry & TableEntries.OffsetMask) >> header.ClusterBits);
                bool copied = (check.Entry & TableEntries.Copied) != 0;
                if (cluster < stored.Length && copied != (stored[cluster] == 1))
                {
                    corruptions++;
                    messages.Add(CopiedMessage("ERROR", check, stored[cluster]));
                }
            }
            return new Qcow2CheckResult
            {
                Corruptions = corruptions,
                Leaks = leaks,
                AllocatedClusters = allocated,
                TotalClusters = (header.Size + ClusterSize - 1) / ClusterSize,
                ImageEndOffset = (highest + 1) * ClusterSize,
                GuestAllocatedClusters = _guestAllocated,
                FragmentedClusters = _fragmented,
                CompressedClusters = _compressed,
                Messages = messages,
            };
        }

        /// <summary>Sets COPIED exactly where the recomputed refcount is 1 (active L1 and L2 entries).</summary>
        public async ValueTask FixCopiedFlagsAsync(CancellationToken ct)
        {
            var bytes = new byte[8];
            foreach (var (offset, entry, _, _) in _copiedChecks)
            {
                long cluster = (long)((entry & TableEntries.OffsetMask) >> header.ClusterBits);
                bool shouldCopy = cluster < Expected.Length && Expected[cluster] == 1;
                ulong fixedEntry = shouldCopy ? entry | TableEntries.Copied : entry & ~TableEntries.Copied;
                if (fixedEntry != entry)
                {
                    BinaryPrimitives.WriteUInt64BigEndian(bytes, fixedEntry);
                    await file.WriteAsync(offset, bytes, WriteFlags.None, ct).ConfigureAwait(false);
                }
            }
        }

        private async ValueTask<ulong[]> ReadU64TableAsync(ulong offset, long entries, CancellationToken ct)
        {
            if (entries <= 0 || (long)offset + entries * 8 > file.Length)
            {
                return [];
            }
            var raw = new byte[entries * 8];
            await file.ReadAsync((long)offset, raw, ct).ConfigureAwait(false);
            var table = new ulong[entries];
            for (long i = 0; i < entries; i++)
            {
                table[i] = BinaryPrimitives.ReadUInt64BigEndian(raw.AsSpan((int)(i * 8)));
            }
            return table;
        }
    }
}
