using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;
using BlockDaemon.Core.Options;

namespace BlockDaemon.Core.Drivers.Blkdebug;

/// <summary>
/// blkdebug: rules first, then the image child, then the limits checked against the child's
/// alignment, in blkdebug_open's order and words. A config file is not supported (the schema
/// leaves "config" out): rules are given inline.
/// </summary>
public sealed class BlkdebugDriverFactory : IBlockDriverFactory
{
    private const int SectorSize = 512;

    public string DriverName => "blkdebug";

    public async ValueTask<IBlockDriver> OpenAsync(DriverOpenContext context, CancellationToken ct)
    {
        var options = context.Options;
        var rules = new List<BlkdebugRule>();
        foreach (var entry in Entries(options, "inject-error"))
        {
            long sector = entry.GetInt64("sector") ?? -1;
            rules.Add(new BlkdebugRule
            {
                Event = DebugEvents.Parse(entry.GetRequiredString("event")),
                State = entry.GetInt64("state") ?? 0,
                Errno = (int)(entry.GetInt64("errno") ?? Errno.EIo),
                Offset = sector == -1 ? -1 : sector * SectorSize,
                IoTypes = entry.GetString("iotype") is { } type ? BlkdebugIoTypes.Parse(type) : BlkdebugIoType.Default,
                Once = entry.GetBool("once", false),
                Immediately = entry.GetBool("immediately", false),
            });
        }
        foreach (var entry in Entries(options, "set-state"))
        {
            rules.Add(new BlkdebugRule
            {
                Event = DebugEvents.Parse(entry.GetRequiredString("event")),
                State = entry.GetInt64("state") ?? 0,
                NewState = entry.GetInt64("new_state") ?? 0,
            });
        }
        var take = Permissions(options, "take-child-perms");
        var unshare = Permissions(options, "unshare-child-perms");
        var image = await context.OpenChildAsync("image", "image", ct).ConfigureAwait(false);

        long align = Size(options, "align");
        if (align != 0 && ((ulong)align >= int.MaxValue || (align & (align - 1)) != 0))
        {
            throw Constraint("align", align);
        }
        long effectiveAlign = Math.Max(align, image.Node.Driver.Limits.RequestAlignment);
        long maxTransfer = CheckAligned(options, "max-transfer", effectiveAlign);
        long optWriteZero = CheckAligned(options, "opt-write-zero", effectiveAlign);
        long maxWriteZero = CheckAligned(options, "max-write-zero", Math.Max(optWriteZero, effectiveAlign));
        long optDiscard = CheckAligned(options, "opt-discard", effectiveAlign);
        long maxDiscard = CheckAligned(options, "max-discard", Math.Max(optDiscard, effectiveAlign));
        var limits = new BlkdebugLimits
        {
            Align = (int)align,
            MaxTransfer = (int)maxTransfer,
            OptWriteZero = optWriteZero,
            MaxWriteZero = maxWriteZero,
            OptDiscard = optDiscard,
            MaxDiscard = maxDiscard,
            TakeChildPerms = take,
            UnshareChildPerms = unshare,
        };
        return new BlkdebugDriver(image, new BlkdebugRules(rules), limits);
    }

    private static IEnumerable<OptionDict> Entries(OptionDict options, string key) =>
        options.TryGet(key, out var value) && value is OptionList list ? list.OfType<OptionDict>() : [];

    private static BlockPermissions Permissions(OptionDict options, string key)
    {
        var result = BlockPermissions.None;
        if (options.TryGet(key, out var value) && value is OptionList list)
        {
            foreach (var name in list.OfType<string>())
            {
                result |= BlockPermissionsExtensions.Bits.First(b => b.SchemaName() == name);
            }
        }
        return result;
    }

    private static long Size(OptionDict options, string key) => options.GetInt64(key) ?? 0;

    // QEMU's rule for each limit: 0 (unset), or below INT_MAX and a multiple of what it builds on.
    private static long CheckAligned(OptionDict options, string key, long alignment)
    {
        long value = Size(options, key);
        if (value != 0 && ((ulong)value >= int.MaxValue || value % alignment != 0))
        {
            throw Constraint(key, value);
        }
        return value;
    }

    private static BlockException Constraint(string key, long value) =>
        BlockException.Invalid($"Cannot meet constraints with {key} {(ulong)value}");
}
