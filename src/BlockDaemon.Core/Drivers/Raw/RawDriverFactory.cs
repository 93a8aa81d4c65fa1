using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;

namespace BlockDaemon.Core.Drivers.Raw;

/// <summary>raw: the child's bytes as they are, optionally a window (offset/size) of them.</summary>
public sealed class RawDriverFactory : IBlockDriverFactory
{
    private const int SectorSize = 512;

    public string DriverName => "raw";

    public bool HasFileChild => true;

    public async ValueTask<IBlockDriver> OpenAsync(DriverOpenContext context, CancellationToken ct)
    {
        long? offsetOption = context.Options.GetInt64("offset");
        long? sizeOption = context.Options.GetInt64("size");
        // QEMU reads these as sizes (unsigned), before it opens the child.
        foreach (var (key, value) in new[] { ("offset", offsetOption), ("size", sizeOption) })
        {
            if (value < 0)
            {
                throw BlockException.Invalid($"Parameter '{key}' expects a non-negative number below 2^64");
            }
        }
        var file = await context.OpenChildAsync("file", "file", ct).ConfigureAwait(false);
        long offset = offsetOption ?? 0;
        long realSize = file.Length;
        // QEMU's messages, including the doubled space in the second one.
        if (offset < 0 || offset > realSize)
        {
            throw BlockException.Invalid($"Offset ({(ulong)offset}) cannot be greater than size of the containing file ({realSize})");
        }
        if (sizeOption is { } size && (size < 0 || realSize - offset < size))
        {
            throw BlockException.Invalid(
                $"The sum of offset ({(ulong)offset}) and size ({(ulong)size}) has to be smaller or equal to the  actual size of the containing file ({realSize})");
        }
        if (sizeOption is { } fixedSize && fixedSize % SectorSize != 0)
        {
            throw BlockException.Invalid($"Specified size is not multiple of {SectorSize}");
        }
        return new RawDriver(file, offset, sizeOption);
    }
}
