using System.Text.Json.Nodes;
using BlockDaemon.CommandLine.Keyval;
using Xunit;

namespace BlockDaemon.CommandLine.Tests;

/// <summary>QEMU keyval semantics; every error text is recorded from qsd 7.2 (--blockdev).</summary>
public sealed class KeyvalTests
{
    private static string Parse(string text, string? impliedKey = "driver") =>
        KeyvalParser.Parse(text, impliedKey, helpAllowed: false, out _).ToJsonString();

    [Fact]
    public void Dotted_keys_build_nested_objects_with_string_leaves()
    {
        BlockdevOption option = Qsd.Single<BlockdevOption>(
            "--blockdev", "driver=qcow2,node-name=disk,file.driver=file,file.filename=/x,read-only=on");
        Assert.True(option.FromKeyval);
        Assert.Equal(
            """{"driver":"qcow2","node-name":"disk","file":{"driver":"file","filename":"/x"},"read-only":"on"}""",
            option.Options.ToJsonString());
    }

    [Fact]
    public void Numeric_keys_make_arrays_in_any_order()
    {
        Assert.Equal("""{"a":["x","y"]}""", Parse("a.1=y,a.0=x", null));
        Assert.Equal("""{"a":[{"b":"1"},{"b":"2"}]}""", Parse("a.0.b=1,a.1.b=2", null));
        Assert.Equal("""{"a":{"b":["1"]}}""", Parse("a.b.0=1", null));
    }

    [Fact]
    public void Double_comma_escapes_a_comma_in_values()
    {
        Assert.Equal("""{"driver":"file","filename":"/a,b,,c"}""", Parse("driver=file,filename=/a,,b,,,,c"));
        Assert.Equal("""{"x":"a,"}""", Parse("x=a,,", null));
    }

    [Fact]
    public void Implied_key_takes_the_first_bare_value_without_unescaping()
    {
        Assert.Equal("""{"driver":"null-co","size":"1"}""", Parse("null-co,size=1"));
        Assert.Equal("--blockdev a,,b: Invalid parameter ''", Qsd.Fails("--blockdev", "a,,b").Message);
    }

    [Fact]
    public void Repeated_key_keeps_its_place_and_the_last_value()
    {
        Assert.Equal("""{"driver":"b","x":"1"}""", Parse("driver=a,x=1,driver=b"));
    }

    [Fact]
    public void Trailing_comma_and_empty_argument()
    {
        Assert.Equal("""{"driver":"x"}""", Parse("driver=x,"));
        Assert.Equal("{}", Parse(""));
    }

    [Fact]
    public void Downstream_prefix_may_contain_dots()
    {
        Assert.Equal("""{"__com.redhat_x":{"y":"1"}}""", Parse("__com.redhat_x.y=1", null));
        Assert.Equal("""{"__com.re.dhat_x":"1"}""", Parse("__com.re.dhat_x=1", null));
    }

    [Theory]
    [InlineData("driver=null-co,x.y=1,x=2", "Parameters 'x.*' used inconsistently")]
    [InlineData("driver=null-co,x=2,x.y=1", "Parameters 'x.*' used inconsistently")]
    [InlineData("driver=null-co,a.b=2,a.b.c=1", "Parameters 'a.b.*' used inconsistently")]
    [InlineData("driver=null-co,x.0=a,x.b=1", "Parameters 'x.*' used inconsistently")]
    [InlineData("driver=null-co,a.b.0=1,a.b.x=2", "Parameters 'a.b.*' used inconsistently")]
    [InlineData("driver=null-co,x.1=a", "Parameter 'x.0' missing")]
    [InlineData("driver=null-co,a.b.2=1,a.b.0=2", "Parameter 'a.b.1' missing")]
    [InlineData("driver=null-co,x.99999999999=a", "Parameter 'x.0' missing")]
    [InlineData("driver=null-co,x..y=1", "Invalid parameter 'x..y'")]
    [InlineData("driver=null-co,x.=a", "Invalid parameter 'x.'")]
    [InlineData("driver=null-co,x.0a=1", "Invalid parameter 'x.0a'")]
    [InlineData("driver=null-co,x.-1=1", "Invalid parameter 'x.-1'")]
    [InlineData("driver=null-co,0=1", "Invalid parameter '0'")]
    [InlineData("driver=null-co,_x=1", "Invalid parameter '_x'")]
    [InlineData("driver=null-co,a b=x", "Invalid parameter 'a b'")]
    [InlineData("driver=null-co,=x", "Invalid parameter ''")]
    [InlineData("=null-co", "Invalid parameter ''")]
    [InlineData("driver=null-co,x", "Expected '=' after parameter 'x'")]
    [InlineData("help,null-co", "Expected '=' after parameter 'null-co'")]
    [InlineData("help", "Help is not available for this option")]
    [InlineData("null-co,help", "Help is not available for this option")]
    [InlineData("driver=x,a.1=2,help", "Help is not available for this option")]
    public void Keyval_errors_match_qsd(string argument, string message)
    {
        CommandLineException error = Qsd.Fails("--blockdev", argument);
        Assert.Equal("--blockdev " + argument, error.Location);
        Assert.Equal(message, error.Detail);
    }

    [Fact]
    public void Key_fragments_are_limited_to_127_characters()
    {
        string ok = new('a', 127);
        string tooLong = new('a', 128);
        Assert.Equal($$"""{"{{ok}}":"1"}""", Parse(ok + "=1", null));
        Assert.Equal($"Parameter '{tooLong}' is too long", Qsd.Fails("--blockdev", $"driver=null-co,{tooLong}=1").Detail);
        Assert.Equal($"Parameter fragment '{tooLong}' is too long", Qsd.Fails("--blockdev", $"driver=null-co,x.{tooLong}=1").Detail);
    }

    [Fact]
    public void Object_help_is_allowed_anywhere_but_the_argument_must_still_parse()
    {
        Assert.Null(Qsd.Single<ObjectHelpOption>("--object", "help").QomType);
        Assert.Null(Qsd.Single<ObjectHelpOption>("--object", "?").QomType);
        Assert.Equal("iothread", Qsd.Single<ObjectHelpOption>("--object", "iothread,id=x,help").QomType);
        Assert.Equal("Invalid parameter 'x..y'", Qsd.Fails("--object", "?,x..y=1").Detail);
        Assert.Equal("Parameter 'a.0' missing", Qsd.Fails("--object", "iothread,a.1=x,help").Detail);
        Assert.Equal("Expected '=' after parameter 'iothread'", Qsd.Fails("--object", "help,iothread").Detail);
    }

    [Fact]
    public void Round_trip_of_nested_arrays_and_escapes()
    {
        const string text = "driver=quorum,children.0.driver=file,children.0.filename=/a,,1,children.1=n2,vote-threshold=1";
        JsonObject parsed = KeyvalParser.Parse(text, "driver", false, out _);
        Assert.Equal(
            """{"driver":"quorum","children":[{"driver":"file","filename":"/a,1"},"n2"],"vote-threshold":"1"}""",
            parsed.ToJsonString());
    }
}
