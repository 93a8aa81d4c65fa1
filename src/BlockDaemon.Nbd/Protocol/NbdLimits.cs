namespace BlockDaemon.Nbd.Protocol;

/// <summary>Bounds the server enforces on what a peer may send (qemu's values where it has them).</summary>
public static class NbdLimits
{
    /// <summary>Largest READ/WRITE/CACHE payload (qemu's NBD_MAX_BUFFER_SIZE), also advertised as the maximum block size.</summary>
    public const int MaxPayload = 32 << 20;

    /// <summary>Longest export name or meta-context query (qemu's NBD_MAX_STRING_SIZE and the spec's limit).</summary>
    public const int MaxString = 4096;

    /// <summary>
    /// Largest option payload buffered during the handshake. The largest legal option is a meta
    /// context request with a few 4 KiB queries; anything bigger is refused with ERR_TOO_BIG and
    /// the connection closed, so a hostile client cannot make us buffer or drain gigabytes.
    /// </summary>
    public const int MaxOptionLength = 64 << 10;

    /// <summary>The preferred block size advertised in NBD_INFO_BLOCK_SIZE (qemu: max(4096, minimum)).</summary>
    public const int PreferredBlockSize = 4096;

    /// <summary>Most extents in one BLOCK_STATUS reply, as qemu's NBD_MAX_BLOCK_STATUS_EXTENTS (1 MiB of descriptors).</summary>
    public const int MaxExtents = (1 << 20) / 8;
}
