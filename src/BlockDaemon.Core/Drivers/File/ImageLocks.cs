using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;

namespace BlockDaemon.Core.Drivers.File;

/// <summary>
/// QEMU's image locking, byte for byte, so blockd and qemu processes see each other's users:
/// a shared OFD lock on byte 100+i means "I use permission bit i", on byte 200+i "I do not
/// share permission bit i". Conflicts are found by testing for a would-be exclusive lock.
/// </summary>
internal sealed unsafe class ImageLocks
{
    private const int PermBase = 100;
    private const int SharedBase = 200;
    private readonly int _fd;
    private BlockPermissions _lockedPerm;
    private BlockPermissions _lockedUnshared;

    public ImageLocks(int fd)
    {
        _fd = fd;
    }

    /// <summary>True when the file system supports OFD locks (locking=auto turns itself off otherwise).</summary>
    public static bool Supported(int fd)
    {
        var probe = new Native.Flock { Type = Native.FWrLck, Whence = 0, Start = PermBase, Len = 1 };
        return Native.Fcntl(fd, Native.FOfdGetLk, &probe) == 0;
    }

    /// <summary>Takes the locks for the new permissions on top of the current ones, then tests for conflicts.</summary>
    public void Prepare(BlockPermissions perm, BlockPermissions shared, BlockPermissions currentPerm, BlockPermissions currentShared)
    {
        try
        {
            Apply(currentPerm | perm, ~currentShared | ~shared, unlock: false);
            foreach (var bit in BlockPermissionsExtensions.Bits)
            {
                if ((perm & bit) != 0 && IsLockedByOthers(SharedBase + BitIndex(bit)))
                {
                    throw new BlockException(BlockErrorKind.PermissionConflict, $"Failed to get \"{bit.HumanName()}\" lock");
                }
            }
            foreach (var bit in BlockPermissionsExtensions.Bits)
            {
                if ((shared & bit) == 0 && IsLockedByOthers(PermBase + BitIndex(bit)))
                {
                    throw new BlockException(BlockErrorKind.PermissionConflict, $"Failed to get shared \"{bit.HumanName()}\" lock");
                }
            }
        }
        catch
        {
            Apply(currentPerm, ~currentShared, unlock: true);
            throw;
        }
    }

    /// <summary>Holds exactly the locks for these permissions.</summary>
    public void Commit(BlockPermissions perm, BlockPermissions shared) => Apply(perm, ~shared, unlock: true);

    private void Apply(BlockPermissions perm, BlockPermissions unshared, bool unlock)
    {
        foreach (var bit in BlockPermissionsExtensions.Bits)
        {
            Update(PermBase + BitIndex(bit), want: (perm & bit) != 0, held: (_lockedPerm & bit) != 0, unlock);
            Update(SharedBase + BitIndex(bit), want: (unshared & bit) != 0, held: (_lockedUnshared & bit) != 0, unlock);
        }
        _lockedPerm = unlock ? perm & BlockPermissions.All : _lockedPerm | (perm & BlockPermissions.All);
        _lockedUnshared = unlock ? unshared & BlockPermissions.All : _lockedUnshared | (unshared & BlockPermissions.All);
    }

    private void Update(int offset, bool want, bool held, bool unlock)
    {
        if (want && !held)
        {
            SetLock(offset, Native.FRdLck);
        }
        else if (unlock && held && !want)
        {
            SetLock(offset, Native.FUnLck);
        }
    }

    private void SetLock(int offset, short type)
    {
        var info = new Native.Flock { Type = type, Whence = 0, Start = offset, Len = 1 };
        if (Native.Fcntl(_fd, Native.FOfdSetLk, &info) != 0)
        {
            throw new BlockException(BlockErrorKind.PermissionConflict, $"Failed to lock byte {offset}");
        }
    }

    private bool IsLockedByOthers(int offset)
    {
        var info = new Native.Flock { Type = Native.FWrLck, Whence = 0, Start = offset, Len = 1 };
        return Native.Fcntl(_fd, Native.FOfdGetLk, &info) == 0 && info.Type != Native.FUnLck;
    }

    private static int BitIndex(BlockPermissions bit) => System.Numerics.BitOperations.TrailingZeroCount((int)bit);
}
