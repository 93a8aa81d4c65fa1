namespace BlockDaemon.Nbd.Protocol;

/// <summary>Option reply types; errors have bit 31 set.</summary>
public enum NbdOptionReplyType : uint
{
    Ack = 1,
    Server = 2,
    Info = 3,
    MetaContext = 4,

    ErrUnsup = 0x80000000 | 1,
    ErrPolicy = 0x80000000 | 2,
    ErrInvalid = 0x80000000 | 3,
    ErrPlatform = 0x80000000 | 4,
    ErrTlsReqd = 0x80000000 | 5,
    ErrUnknown = 0x80000000 | 6,
    ErrShutdown = 0x80000000 | 7,
    ErrBlockSizeReqd = 0x80000000 | 8,
    ErrTooBig = 0x80000000 | 9,
}

/// <summary>Information types of NBD_OPT_INFO/GO requests and NBD_REP_INFO replies.</summary>
public enum NbdInfoType : ushort
{
    Export = 0,
    Name = 1,
    Description = 2,
    BlockSize = 3,
}
