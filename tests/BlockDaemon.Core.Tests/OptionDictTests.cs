using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Options;
using BlockDaemon.TestKit;

namespace BlockDaemon.Core.Tests;

public sealed class OptionDictTests
{
    [Fact]
    public void Clone_is_deep_and_keeps_the_order()
    {
        var original = Opt.Dict(("driver", "raw"), ("file", Opt.Dict(("driver", "file"), ("filename", "a"))), ("list", new OptionList([1L, "x"])));
        var copy = original.Clone();
        copy.GetDict("file")!.Set("filename", "b");
        ((OptionList)copy.Items[2].Value!).Add(2L);
        Assert.Equal("a", original.GetDict("file")!.GetString("filename"));
        Assert.Equal(2, ((OptionList)original.Items[2].Value!).Count);
        Assert.Equal(["driver", "file", "list"], copy.Keys);
    }

    [Fact]
    public void Typed_getters_do_not_convert_between_types()
    {
        var dict = Opt.Dict(("n", 5), ("big", ulong.MaxValue), ("s", "5"), ("b", true), ("null", null));
        Assert.Equal(5L, dict.GetInt64("n"));
        Assert.Null(dict.GetInt64("big"));
        Assert.Null(dict.GetInt64("s"));
        Assert.Null(dict.GetString("n"));
        Assert.True(dict.GetBool("b", false));
        Assert.True(dict.GetBool("s", true));
        Assert.True(dict.Contains("null"));
        Assert.Null(dict.GetDict("null"));
        BlockAssert.Throws(() => dict.GetRequiredString("filename"), BlockErrorKind.InvalidArgument, "Parameter 'filename' is missing");
    }

    [Fact]
    public void Node_options_split_the_common_members_from_the_driver_options()
    {
        var options = Opt.Node("file", "f0", ("filename", "img"), ("read-only", true), ("discard", "unmap"),
            ("detect-zeroes", "unmap"), ("cache", Opt.Dict(("direct", true))), ("aio", "native"));
        var (common, rest) = NodeOptions.Parse(options, null);
        Assert.Equal(new NodeOptions
        {
            Driver = "file",
            NodeName = "f0",
            ReadOnly = true,
            DiscardUnmap = true,
            DetectZeroes = DetectZeroes.Unmap,
            CacheDirect = true,
        }, common);
        Assert.Equal(["filename", "aio"], rest.Keys);
        Assert.Equal(8, options.Count);
    }

    [Fact]
    public void Children_inherit_read_only_cache_and_discard_but_not_zero_detection()
    {
        var parent = NodeOptions.Parse(Opt.Node("raw", "r0", ("read-only", true), ("discard", "unmap"), ("detect-zeroes", "on"),
            ("cache", Opt.Dict(("direct", true), ("no-flush", true)))), null).Common;
        var (child, _) = NodeOptions.Parse(Opt.Node("file", null), parent);
        Assert.True(child.ReadOnly);
        Assert.True(child.DiscardUnmap);
        Assert.True(child.CacheDirect);
        Assert.True(child.CacheNoFlush);
        Assert.Equal(DetectZeroes.Off, child.DetectZeroes);
        Assert.Null(child.NodeName);
    }

    [Fact]
    public void Force_share_needs_read_only()
    {
        BlockAssert.Throws(() => NodeOptions.Parse(Opt.Node("file", "f0", ("force-share", true)), null), BlockErrorKind.InvalidArgument,
            "force-share=on can only be used with read-only images");
        Assert.True(NodeOptions.Parse(Opt.Node("file", "f0", ("force-share", true), ("read-only", true)), null).Common.ForceShare);
    }
}
