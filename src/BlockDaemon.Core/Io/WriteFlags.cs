namespace BlockDaemon.Core.Io;

[Flags]
public enum WriteFlags
{
    None = 0,
    /// <summary>Forced unit access: the data is on stable storage when the write completes.</summary>
    Fua = 1,
    /// <summary>For write-zeroes: the range may be deallocated instead of written.</summary>
    MayUnmap = 2,
    /// <summary>For write-zeroes: fail rather than fall back to slow writes of zeroes.</summary>
    NoFallback = 4,
    /// <summary>
    /// Store the data compressed (backup targets with compress=on). Whole clusters only, into
    /// unallocated clusters; drivers without <see cref="DriverLimits.SupportsCompressedWrites"/> refuse it.
    /// </summary>
    Compressed = 8,
    /// <summary>
    /// A hint for bulk copies that end with a flush (block jobs): the file layer starts writing
    /// the data back to the disk at once, so the final flush finds little left to do. No
    /// durability promise; drivers that cannot do it ignore it.
    /// </summary>
    WriteBehind = 16,
    /// <summary>
    /// A copy-on-read fill of the node written to. QEMU hands those straight to the node's
    /// driver (bdrv_co_do_copy_on_readv), so they do not raise the node's wr_highest_offset; the
    /// generic path drops the flag before the driver, and the layers below count as usual.
    /// </summary>
    CopyOnRead = 32,
    /// <summary>
    /// A hint from a data-plane caller that waits for the write anyway (an NBD export's WRITE):
    /// the file layer may write a small request through the page cache on the calling thread
    /// instead of handing it to another thread-pool thread and back, which costs more than the
    /// copy. Never set on the control loop: such a write can still block (a page cache full of
    /// dirty data throttles its writers). Drivers that cannot use it ignore it.
    /// </summary>
    Inline = 64,
}
