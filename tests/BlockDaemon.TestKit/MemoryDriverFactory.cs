using System.Collections.Concurrent;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;

namespace BlockDaemon.TestKit;

/// <summary>
/// Opens <see cref="MemoryDriver"/>s as driver "memory". Options: <c>size</c> (bytes, default
/// <see cref="DefaultSize"/>) and <c>fill</c> (initial byte value). Limits and the hook come from
/// the factory so one test can give every node the same shape.
/// </summary>
public sealed class MemoryDriverFactory : IBlockDriverFactory
{
    public const long DefaultSize = 1 << 20;

    public string DriverName => "memory";

    public DriverLimits Limits { get; set; } = new() { SupportsWriteZeroes = true, SupportsDiscard = true, SupportsTruncate = true };

    public Func<DriverCall, CancellationToken, ValueTask>? Hook { get; set; }

    /// <summary>Drivers opened so far, by node name.</summary>
    public ConcurrentDictionary<string, MemoryDriver> Drivers { get; } = new(StringComparer.Ordinal);

    public MemoryDriver this[string nodeName] => Drivers[nodeName];

    public ValueTask<IBlockDriver> OpenAsync(DriverOpenContext context, CancellationToken ct)
    {
        long size = context.Options.GetInt64("size") ?? DefaultSize;
        var driver = new MemoryDriver(size, Limits, Hook);
        if (context.Options.GetInt64("fill") is { } fill)
        {
            driver.Data.Fill((byte)fill);
        }
        Drivers[context.Node.NodeName] = driver;
        return ValueTask.FromResult<IBlockDriver>(driver);
    }
}
