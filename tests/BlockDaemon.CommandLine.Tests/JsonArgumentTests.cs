using System.Text.Json.Nodes;
using Xunit;

namespace BlockDaemon.CommandLine.Tests;

/// <summary>JSON option arguments, read with QEMU's JSON dialect; messages recorded from qsd 7.2.</summary>
public sealed class JsonArgumentTests
{
    [Fact]
    public void Json_argument_keeps_types()
    {
        BlockdevOption option = Qsd.Single<BlockdevOption>(
            "--blockdev", """{"driver":"null-co","node-name":"n","size":1048576,"read-only":true,"x":[1.5,null,-2]}""");
        Assert.False(option.FromKeyval);
        Assert.Equal(1048576L, option.Options["size"]!.GetValue<long>());
        Assert.True(option.Options["read-only"]!.GetValue<bool>());
        Assert.Equal("""[1.5,null,-2]""", option.Options["x"]!.ToJsonString());
    }

    [Fact]
    public void Single_quoted_strings_and_escapes_are_qemu_extensions()
    {
        BlockdevOption option = Qsd.Single<BlockdevOption>("--blockdev", """{'driver':'null-co','n':'it\'s "x"','u':"\u00e9\uD83D\uDE00\/"}""");
        Assert.Equal("it's \"x\"", option.Options["n"]!.GetValue<string>());
        Assert.Equal("é😀/", option.Options["u"]!.GetValue<string>());
    }

    [Fact]
    public void Big_integers_become_unsigned_then_double()
    {
        JsonObject options = Qsd.Single<BlockdevOption>("--blockdev", """{"a":18446744073709551615,"b":18446744073709551616}""").Options;
        Assert.Equal(ulong.MaxValue, options["a"]!.GetValue<ulong>());
        Assert.Equal(18446744073709551616d, options["b"]!.GetValue<double>());
    }

    [Fact]
    public void Only_a_leading_brace_selects_json()
    {
        Assert.Equal("Invalid parameter ' {\"addr\":1}'", Qsd.Fails("--nbd-server", " {\"addr\":1}").Detail);
        Assert.Equal("Invalid parameter '[1]'", Qsd.Fails("--nbd-server", "[1]").Detail);
        Assert.True(Qsd.Single<NbdServerOption>("--nbd-server", "addr.type=unix,addr.path=/s").FromKeyval);
    }

    [Theory]
    [InlineData("{\"driver\":", "JSON parse error, premature EOI")]
    [InlineData("{", "JSON parse error, premature EOI")]
    [InlineData("{\"a\":[1,", "JSON parse error, premature EOI")]
    [InlineData("{\"driver\":\"null-co\"} x", "Expecting at most one JSON value")]
    [InlineData("{\"a\":1}}", "Expecting at most one JSON value")]
    [InlineData("{\"a\":1}{\"b\":2}", "Expecting at most one JSON value")]
    [InlineData("{x}", "JSON parse error, invalid keyword 'x'")]
    [InlineData("{\"a\":tru}", "JSON parse error, invalid keyword 'tru'")]
    [InlineData("{\"a\":1,}", "JSON parse error, expecting value")]
    [InlineData("{,", "JSON parse error, expecting value")]
    [InlineData("{\"a\":[1,]}", "JSON parse error, expecting value")]
    [InlineData("{1:2}", "JSON parse error, key is not a string in object")]
    [InlineData("{\"a\" 1}", "JSON parse error, missing : in object pair")]
    [InlineData("{\"a\":1]}", "JSON parse error, expected separator in dict")]
    [InlineData("{\"a\":[1 2]}", "JSON parse error, expected separator in list")]
    [InlineData("{\"a\":1,\"a\":2}", "JSON parse error, duplicate key")]
    [InlineData("{\"a\":\"\\x\"}", "JSON parse error, invalid escape sequence in string")]
    [InlineData("{\"a\":\"\\u12\"}", "JSON parse error, \\u12\" is not a valid Unicode character")]
    [InlineData("{\"a\":\"\\ud800\\u0041\"}", "JSON parse error, \\ud800 is not a valid Unicode character")]
    [InlineData("{\"a\":\"\\uFFFE\"}", "JSON parse error, \\uFFFE is not a valid Unicode character")]
    [InlineData("{\"a\":01}", "JSON parse error, stray '01'")]
    [InlineData("{\"a\":1e}", "JSON parse error, stray '1e}'")]
    [InlineData("{\"a\":-}", "JSON parse error, stray '-}'")]
    [InlineData("{\"a\":X}", "JSON parse error, stray 'X'")]
    [InlineData("{\"a\":%d}", "JSON parse error, stray '%'")]
    [InlineData("{\"a\":\"abc", "JSON parse error, stray '\"abc'")]
    [InlineData("{\"a\":\"\t\"}", "JSON parse error, stray '\"\t'")]
    [InlineData("{\"a\":é}", "JSON parse error, stray '\uFFFD'")]
    public void Json_errors_match_qsd(string argument, string message)
    {
        Assert.Equal(message, Qsd.Fails("--blockdev", argument).Detail);
    }

    [Fact]
    public void Nesting_beyond_1024_brackets_is_refused()
    {
        string deep = "{\"a\":" + new string('[', 1030) + "}";
        Assert.Equal("JSON nesting depth limit exceeded", Qsd.Fails("--blockdev", deep).Detail);
        string ok = "{\"a\":" + new string('[', 1023) + new string(']', 1023) + "}";
        Assert.NotNull(Qsd.Single<BlockdevOption>("--blockdev", ok));
    }

    [Fact]
    public void Export_object_and_monitor_accept_json()
    {
        Assert.False(Qsd.Single<ExportOption>("--export", """{"type":"nbd","id":"e","node-name":"n"}""").FromKeyval);
        ObjectOption obj = Qsd.Single<ObjectOption>("--object", """{"qom-type":"iothread","id":"io0","poll-max-ns":0}""");
        Assert.Equal("iothread", obj.QomType);
        Assert.False(obj.FromKeyval);
        Assert.Equal("""{"id":"io0","poll-max-ns":0}""", obj.Properties.ToJsonString());
        Assert.True(Qsd.Single<MonitorOption>("--monitor", """{"chardev":"c","pretty":true}""").Pretty);
    }
}
