using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;

namespace BlockDaemon.Core.Drivers.Null;

/// <summary>null-co: a node with no storage, for tests and benchmarks.</summary>
public sealed class NullDriverFactory : IBlockDriverFactory
{
    public const long DefaultSize = 1L << 30;

    public string DriverName => "null-co";

    public ValueTask<IBlockDriver> OpenAsync(DriverOpenContext context, CancellationToken ct)
    {
        var options = context.Options;
        long size = options.GetInt64("size") ?? DefaultSize;
        long latency = options.GetInt64("latency-ns") ?? 0;
        if (latency < 0)
        {
            throw BlockException.Invalid("latency-ns is invalid");
        }
        if (size < 0)
        {
            throw BlockException.Invalid("Parameter 'size' expects a non-negative size");
        }
        bool readZeroes = options.GetBool("read-zeroes", false);
        return ValueTask.FromResult<IBlockDriver>(new NullDriver(size, TimeSpan.FromTicks(latency / 100), readZeroes));
    }
}
