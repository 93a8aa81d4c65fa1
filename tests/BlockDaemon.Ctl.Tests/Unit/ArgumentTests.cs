using System.Text.Json.Nodes;
using BlockDaemon.Ctl.Arguments;
using BlockDaemon.Ctl.Cli;

namespace BlockDaemon.Ctl.Tests.Unit;

public sealed class ArgumentTests
{
    private static string Typed(string command, params string[] words) =>
        new SchemaTyping(TestSchema.Load()).Arguments(command, DottedArguments.Parse(words)).ToJsonString();

    [Fact]
    public void Dotted_keys_nest_and_index_keys_make_lists()
    {
        var tree = new SchemaTyping(null).Arguments("unknown", DottedArguments.Parse(["a.b=1", "a.c.d=x", "l.0=p", "l.1=q", "m.1=z"]));
        Assert.Equal("""{"a":{"b":"1","c":{"d":"x"}},"l":["p","q"],"m":{"1":"z"}}""", tree.ToJsonString());
    }

    [Fact]
    public void Values_keep_commas_equals_and_blanks()
    {
        var tree = new SchemaTyping(null).Arguments("unknown", DottedArguments.Parse(["f=/a b,c=d"]));
        Assert.Equal("/a b,c=d", tree["f"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("novalue", "Expected key=value")]
    [InlineData("=x", "Expected key=value")]
    [InlineData("a..b=1", "empty name between dots")]
    public void Malformed_words_are_usage_errors(string word, string message)
    {
        var e = Assert.Throws<UsageException>(() => DottedArguments.Parse([word]));
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_key_given_twice_or_as_value_and_object_is_refused()
    {
        Assert.Contains("given twice", Assert.Throws<UsageException>(() => DottedArguments.Parse(["a=1", "a=2"])).Message, StringComparison.Ordinal);
        Assert.Contains("both as a value and as an object", Assert.Throws<UsageException>(() => DottedArguments.Parse(["a=1", "a.b=2"])).Message, StringComparison.Ordinal);
        Assert.Contains("both as a value and as an object", Assert.Throws<UsageException>(() => DottedArguments.Parse(["a.b=2", "a=1"])).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_schema_types_integers_booleans_and_the_union_variant()
    {
        Assert.Equal("""{"driver":"null-co","size":1048576,"read-only":true,"cache":{"direct":false}}""",
            Typed("blockdev-add", "driver=null-co", "size=1M", "read-only=on", "cache.direct=false"));
    }

    [Fact]
    public void The_tag_selects_the_variant_wherever_it_is_written()
    {
        Assert.Equal("""{"size":4096,"driver":"null-co"}""", Typed("blockdev-add", "size=4k", "driver=null-co"));
        // With another variant, "size" is not a member: it stays a string for the daemon to refuse.
        Assert.Equal("""{"size":"4k","driver":"qcow2"}""", Typed("blockdev-add", "size=4k", "driver=qcow2"));
    }

    [Fact]
    public void Alternates_take_an_object_from_dotted_keys_and_a_string_or_null_from_text()
    {
        Assert.Equal("""{"driver":"qcow2","file":{"driver":"null-co","size":512},"backing":null}""",
            Typed("blockdev-add", "driver=qcow2", "file.driver=null-co", "file.size=512", "backing=null"));
        Assert.Equal("""{"driver":"qcow2","file":"f0","backing":"b0"}""", Typed("blockdev-add", "driver=qcow2", "file=f0", "backing=b0"));
        Assert.Equal("""{"driver":"qcow2","file":{"driver":"null-co"}}""", Typed("blockdev-add", "driver=qcow2", """file={"driver": "null-co"}"""));
    }

    [Fact]
    public void Numbers_lists_and_json_values()
    {
        Assert.Equal("""{"driver":"qcow2","ratio":0.5,"tags":["a","b"]}""", Typed("blockdev-add", "driver=qcow2", "ratio=0.5", "tags.0=a", "tags.1=b"));
        Assert.Equal("""{"driver":"qcow2","tags":["x"]}""", Typed("blockdev-add", "driver=qcow2", """tags=["x"]"""));
        Assert.Equal("""{"driver":"qcow2","ratio":"0.5"}""", Typed("blockdev-add", "driver=qcow2", "ratio:=\"0.5\""));
        Assert.Equal("""{"value":{"a":[1,true]}}""", Typed("set-any", """value={"a": [1, true]}"""));
        Assert.Equal("""{"value":"plain text"}""", Typed("set-any", "value=plain text"));
        Assert.Equal("""{"value":12}""", Typed("set-any", "value=12"));
        Assert.Equal("""{"nothing":null}""", Typed("set-any", "nothing=null"));
    }

    [Theory]
    [InlineData("size=12x", "Parameter 'size' expects an integer, not '12x'")]
    [InlineData("read-only=maybe", "Parameter 'read-only' expects a boolean")]
    [InlineData("cache=direct", "Parameter 'cache' expects an object")]
    [InlineData("cache.direct.x=1", "Parameter 'cache.direct' expects a boolean, not an object or list")]
    public void Values_of_the_wrong_type_are_refused_before_sending(string word, string message)
    {
        var e = Assert.Throws<UsageException>(() => Typed("blockdev-add", "driver=null-co", word));
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Unknown_members_and_commands_keep_strings_for_the_daemon_to_judge()
    {
        Assert.Equal("""{"driver":"null-co","bogus":"1"}""", Typed("blockdev-add", "driver=null-co", "bogus=1"));
        Assert.Equal("""{"a":"1"}""", Typed("no-such-command", "a=1"));
    }

    [Theory]
    [InlineData("0", 0L)]
    [InlineData("-5", -5L)]
    [InlineData("0x10", 16L)]
    [InlineData("2k", 2048L)]
    [InlineData("1G", 1073741824L)]
    [InlineData("9223372036854775807", long.MaxValue)]
    [InlineData("-9223372036854775808", long.MinValue)]
    public void Integers_parse_with_suffixes(string text, long expected)
    {
        Assert.Equal(expected, SchemaTyping.ParseInteger(text)!.GetValue<long>());
    }

    [Theory]
    [InlineData("")]
    [InlineData("1.5")]
    [InlineData("k")]
    [InlineData("-1k")]
    [InlineData("16E")]
    [InlineData("99999999999999999999")]
    public void Non_integers_and_overflows_do_not_parse(string text)
    {
        Assert.Null(SchemaTyping.ParseInteger(text));
    }

    [Fact]
    public void Unsigned_64_bit_values_stay_exact()
    {
        Assert.Equal(ulong.MaxValue, SchemaTyping.ParseInteger("18446744073709551615")!.GetValue<ulong>());
    }
}
