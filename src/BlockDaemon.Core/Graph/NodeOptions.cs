using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Options;

namespace BlockDaemon.Core.Graph;

public enum DetectZeroes { Off, On, Unmap }

/// <summary>The options every node has (BlockdevOptionsBase), parsed once from blockdev-add's options.</summary>
public sealed record NodeOptions
{
    public required string Driver { get; init; }
    public string? NodeName { get; init; }
    public bool ReadOnly { get; init; }
    public bool AutoReadOnly { get; init; }
    public bool ForceShare { get; init; }
    public bool DiscardUnmap { get; init; }
    public DetectZeroes DetectZeroes { get; init; }
    public bool CacheDirect { get; init; }
    public bool CacheNoFlush { get; init; }

    /// <summary>Splits the common members off; what remains in the returned dict belongs to the driver.</summary>
    /// <param name="reopen">blockdev-reopen: force-share may not change at all, which the caller checks instead.</param>
    public static (NodeOptions Common, OptionDict DriverOptions) Parse(OptionDict options, NodeOptions? inheritFrom, bool reopen = false)
    {
        var rest = options.Clone();
        string driver = rest.GetString("driver") ?? throw BlockException.Invalid("Parameter 'driver' is missing");
        var cache = rest.GetDict("cache");
        var common = new NodeOptions
        {
            Driver = driver,
            NodeName = rest.GetString("node-name"),
            ReadOnly = rest.GetBool("read-only", inheritFrom?.ReadOnly ?? false),
            AutoReadOnly = rest.GetBool("auto-read-only", inheritFrom?.AutoReadOnly ?? false),
            ForceShare = rest.GetBool("force-share", inheritFrom?.ForceShare ?? false),
            DiscardUnmap = rest.GetString("discard") == "unmap" || (rest.GetString("discard") is null && (inheritFrom?.DiscardUnmap ?? false)),
            DetectZeroes = rest.GetString("detect-zeroes") switch
            {
                "on" => DetectZeroes.On,
                "unmap" => DetectZeroes.Unmap,
                _ => DetectZeroes.Off,
            },
            CacheDirect = cache?.GetBool("direct", inheritFrom?.CacheDirect ?? false) ?? inheritFrom?.CacheDirect ?? false,
            CacheNoFlush = cache?.GetBool("no-flush", inheritFrom?.CacheNoFlush ?? false) ?? inheritFrom?.CacheNoFlush ?? false,
        };
        foreach (var key in new[] { "driver", "node-name", "read-only", "auto-read-only", "force-share", "discard", "detect-zeroes", "cache" })
        {
            rest.Remove(key);
        }
        if (common.ForceShare && !common.ReadOnly && !reopen)
        {
            throw BlockException.Invalid("force-share=on can only be used with read-only images");
        }
        if (common.DetectZeroes == DetectZeroes.Unmap && !common.DiscardUnmap)
        {
            throw BlockException.Invalid("setting detect-zeroes to unmap is not allowed without setting discard operation to unmap");
        }
        return (common, rest);
    }
}
