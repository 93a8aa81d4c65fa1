namespace BlockDaemon.Nbd.Protocol;

/// <summary>The errno values the NBD wire carries (fixed by the spec, not the host's numbers).</summary>
public static class NbdErrno
{
    public const uint EPerm = 1;
    public const uint EIo = 5;
    public const uint ENoMem = 12;
    public const uint EInval = 22;
    public const uint ENoSpc = 28;
    public const uint EOverflow = 75;
    public const uint ENotSup = 95;
    public const uint EShutdown = 108;
}
