namespace BlockDaemon.Qcow2.Create;

/// <summary>
/// Where a preallocated image's L2 tables and data clusters go (cluster indexes in the image
/// file). With "metadata" qsd allocates each L2 table just before the data clusters it maps
/// (preallocate_co, one table at a time); with "falloc" and "full" the L2 tables come first and
/// all data clusters follow in one run (qcow2_co_truncate). With an external data file the
/// data clusters are in that file, mapped one to one.
/// </summary>
internal sealed record Qcow2PreallocationLayout(Qcow2CreateOptions Options, int ClusterBits, long PerL2, long L1Entries,
    long L1Start, long L2Start, long L2Clusters, long DataStart, long DataClusters)
{
    private bool Interleaved => Options.Preallocation == Preallocation.Metadata && Options.DataFile is null;

    public long L2Cluster(long table) => Interleaved ? L2Start + table * (1 + PerL2) : L2Start + table;

    /// <summary>The host byte offset of a guest cluster, in the image file or the data file.</summary>
    public long HostOffset(long guestCluster)
    {
        if (Options.DataFile is not null)
        {
            return guestCluster << ClusterBits;
        }
        long cluster = Interleaved
            ? L2Cluster(guestCluster / PerL2) + 1 + guestCluster % PerL2
            : DataStart + guestCluster;
        return cluster << ClusterBits;
    }

    /// <summary>The first byte past the image file's clusters.</summary>
    public long FileEnd => (DataStart + DataClusters) << ClusterBits;
}
