using System.Buffers.Binary;
using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;
using BlockDaemon.Qcow2.Engine;
using BlockDaemon.Qcow2.Format;

namespace BlockDaemon.Qcow2.Check;

/// <summary>
/// qemu-img check's repair as qcow2_check_refcounts does it, so that -r leaks and -r all print
/// the same lines, fix the same things and count them the same way:
/// <list type="bullet">
/// <item>a first comparison reports every mismatch ("ERROR cluster", "Leaked cluster");</item>
/// <item>a stored refcount of 0 where something refers to the cluster needs the refcount
/// structure rebuilt: -r all rebuilds it (here: at the end of the file, switched by one header
/// write), -r leaks gives up with EIO;</item>
/// <item>otherwise a second comparison repairs in place what the mode allows ("Repairing
/// cluster"): counts too high with -r leaks, any count with -r all;</item>
/// <item>then the COPIED flags are checked against the refcounts on disk, and repaired with
/// -r all, or with -r leaks when nothing else is left wrong.</item>
/// </list>
/// </summary>
public static partial class Qcow2Checker
{
    public static async ValueTask<Qcow2CheckResult> CheckLikeQemuAsync(BlockChild file, bool fixLeaks, bool fixErrors, CancellationToken ct)
    {
        var first = new byte[(int)Math.Min(file.Length, 2 << 20)];
        await file.ReadAsync(0, first, ct).ConfigureAwait(false);
        var header = Qcow2Header.Parse(first);
        var state = new CheckState(file, header);
        await state.CountAsync(ct).ConfigureAwait(false);
        var messages = new List<string>(state.CountMessages);
        var store = await state.OpenStoreAsync(header, ct).ConfigureAwait(false);
        var compared = await state.CompareRefcountsAsync(store, false, false, messages, ct).ConfigureAwait(false);
        long leaks = compared.Leaks, corruptions = state.CountCorruptions + compared.Corruptions;
        long leaksFixed = 0, corruptionsFixed = 0, highest = compared.Highest;
        var counted = state;
        if (compared.Rebuild && fixErrors)
        {
            messages.Add("Rebuilding refcount structure");
            await RebuildAsync(file, header, state, ct).ConfigureAwait(false);
            var rebuilt = header with { RefcountTableOffset = state.NewTableOffset, RefcountTableClusters = state.NewTableClusters };
            var after = new CheckState(file, rebuilt);
            await after.CountAsync(ct).ConfigureAwait(false);
            messages.AddRange(after.CountMessages);
            // QEMU's new structure first counts the old one too, then finds it leaked and
            // frees it, saying so; ours leaves it out at once, so only the lines are owed.
            foreach (long c in state.RefcountStructureClusters.Distinct().Order())
            {
                if (c < state.Expected.Length && c < after.Expected.Length && state.Expected[c] > after.Expected[c])
                {
                    messages.Add($"Repairing cluster {c} refcount={state.Expected[c]} reference={after.Expected[c]}");
                }
            }
            store = await after.OpenStoreAsync(rebuilt, ct).ConfigureAwait(false);
            var recheck = await after.CompareRefcountsAsync(store, false, false, null, ct).ConfigureAwait(false);
            long remaining = after.CountCorruptions;
            corruptionsFixed += Math.Max(0, corruptions - remaining);
            leaksFixed += leaks;
            corruptions = remaining;
            leaks = recheck.Leaks;
            highest = recheck.Highest;
            counted = after;
        }
        else if (fixLeaks || fixErrors)
        {
            if (compared.Rebuild)
            {
                messages.Add("ERROR need to rebuild refcount structures");
                return state.Summary(leaks, corruptions + 1, 0, 0, highest, messages) with { Failure = Errno.Text(Errno.EIo) };
            }
            if (leaks > 0 || corruptions > 0)
            {
                var repaired = await state.CompareRefcountsAsync(store, fixLeaks, fixErrors, messages, ct).ConfigureAwait(false);
                leaks = repaired.Leaks;
                corruptions = state.CountCorruptions + repaired.Corruptions;
                leaksFixed += repaired.LeaksFixed;
                corruptionsFixed += repaired.CorruptionsFixed;
                highest = repaired.Highest;
                await store.WriteBlocksAsync(ct).ConfigureAwait(false);
                await file.FlushAsync(ct).ConfigureAwait(false);
            }
        }
        // The flags are judged against the refcounts now on disk; after a rebuild those are the
        // recomputed ones, so the entries as they were before it are the ones to judge.
        bool repairFlags = fixErrors || (fixLeaks && corruptions == 0 && leaks == 0);
        var (flagErrors, flagsFixed) = await state.CheckCopiedAsync(store, repairFlags, messages, ct).ConfigureAwait(false);
        if (flagsFixed > 0)
        {
            await file.FlushAsync(ct).ConfigureAwait(false);
        }
        return counted.Summary(leaks, corruptions + flagErrors, leaksFixed, corruptionsFixed + flagsFixed, highest, messages);
    }

    private readonly record struct CompareOutcome(long Leaks, long Corruptions, long LeaksFixed, long CorruptionsFixed, bool Rebuild, long Highest);

    private sealed partial class CheckState
    {
        public IReadOnlyList<string> CountMessages => _messages;

        public long CountCorruptions => _corruptions;

        public async ValueTask<RefcountStore> OpenStoreAsync(Qcow2Header h, CancellationToken ct) =>
            new(file, h.ClusterBits, h.RefcountOrder,
                await ReadU64TableAsync(h.RefcountTableOffset, (long)h.RefcountTableClusters * ClusterSize / 8, ct).ConfigureAwait(false),
                h.RefcountTableOffset, Expected.Length, 64);

        /// <summary>QEMU's compare_refcounts: one line per mismatch; what the mode allows is repaired in place.</summary>
        public async ValueTask<CompareOutcome> CompareRefcountsAsync(RefcountStore store, bool fixLeaks, bool fixErrors, List<string>? messages, CancellationToken ct)
        {
            long leaks = 0, corruptions = 0, leaksFixed = 0, corruptionsFixed = 0, highest = 0;
            bool rebuild = false;
            for (long c = 0; c < Expected.Length; c++)
            {
                ulong stored = await store.GetAsync(c, ct).ConfigureAwait(false);
                ulong expected = Expected[c];
                if (stored != 0 || expected != 0)
                {
                    highest = c;
                }
                if (stored == expected)
                {
                    continue;
                }
                bool fix = false;
                if (stored == 0)
                {
                    rebuild = true;
                }
                else
                {
                    fix = stored > expected ? fixLeaks : fixErrors;
                }
                messages?.Add($"{(fix ? "Repairing" : stored < expected ? "ERROR" : "Leaked")} cluster {c} refcount={stored} reference={expected}");
                if (fix)
                {
                    await store.AddAsync(c, (long)expected - (long)stored, ct).ConfigureAwait(false);
                    if (stored > expected)
                    {
                        leaksFixed++;
                    }
                    else
                    {
                        corruptionsFixed++;
                    }
                }
                else if (stored < expected)
                {
                    corruptions++;
                }
                else
                {
                    leaks++;
                }
            }
            return new CompareOutcome(leaks, corruptions, leaksFixed, corruptionsFixed, rebuild, highest);
        }

        /// <summary>QEMU's check_oflag_copied over the active tables, judged by the refcounts in <paramref name="store"/>.</summary>
        public async ValueTask<(long Errors, long Fixed)> CheckCopiedAsync(RefcountStore store, bool repair, List<string> messages, CancellationToken ct)
        {
            long errors = 0, fixedCount = 0;
            var bytes = new byte[8];
            foreach (var check in _copiedChecks)
            {
                long cluster = (long)((check.Entry & TableEntries.OffsetMask) >> header.ClusterBits);
                ulong refcount = await store.GetAsync(cluster, ct).ConfigureAwait(false);
                if (((check.Entry & TableEntries.Copied) != 0) == (refcount == 1))
                {
                    continue;
                }
                messages.Add(CopiedMessage(repair ? "Repairing" : "ERROR", check, refcount));
                if (!repair)
                {
                    errors++;
                    continue;
                }
                ulong entry = refcount == 1 ? check.Entry | TableEntries.Copied : check.Entry & ~TableEntries.Copied;
                BinaryPrimitives.WriteUInt64BigEndian(bytes, entry);
                await file.WriteAsync(check.Offset, bytes, WriteFlags.None, ct).ConfigureAwait(false);
                fixedCount++;
            }
            return (errors, fixedCount);
        }

        public Qcow2CheckResult Summary(long leaks, long corruptions, long leaksFixed, long corruptionsFixed, long highest, IReadOnlyList<string> messages) => new()
        {
            Corruptions = corruptions,
            Leaks = leaks,
            LeaksFixed = leaksFixed,
            CorruptionsFixed = corruptionsFixed,
            AllocatedClusters = Expected.LongCount(e => e != 0),
            TotalClusters = (header.Size + ClusterSize - 1) / ClusterSize,
            ImageEndOffset = (highest + 1) * ClusterSize,
            GuestAllocatedClusters = _guestAllocated,
            FragmentedClusters = _fragmented,
            CompressedClusters = _compressed,
            Messages = messages,
        };

        private static string CopiedMessage(string verb, (long Offset, ulong Entry, bool IsL1, long L1Index) check, ulong refcount) =>
            check.IsL1
                ? $"{verb} OFLAG_COPIED L2 cluster: l1_index={check.L1Index} l1_entry={check.Entry:x} refcount={refcount}"
                : $"{verb} OFLAG_COPIED data cluster: l2_entry={check.Entry:x} refcount={refcount}";
    }
}
