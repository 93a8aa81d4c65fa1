namespace BlockDaemon.Nbd.Server;

/// <summary>What a finished handshake agreed on.</summary>
internal sealed record NbdSession(NbdExport Export, bool StructuredReplies, bool BaseAllocation)
{
    /// <summary>The qemu:dirty-bitmap contexts selected, with the ids the client was given.</summary>
    public IReadOnlyList<(uint Id, NbdDirtyBitmapContext Context)> DirtyBitmaps { get; init; } = [];

    public bool AnyMetaContext => BaseAllocation || DirtyBitmaps.Count > 0;
}
