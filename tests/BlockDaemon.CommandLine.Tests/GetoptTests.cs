using BlockDaemon.CommandLine;
using Xunit;

namespace BlockDaemon.CommandLine.Tests;

/// <summary>Option scanning as glibc getopt_long does it for qsd; messages recorded from qsd 7.2.</summary>
public sealed class GetoptTests
{
    [Theory]
    [InlineData(new[] { "--foo" }, "unrecognized option '--foo'")]
    [InlineData(new[] { "--foo=bar" }, "unrecognized option '--foo=bar'")]
    [InlineData(new[] { "---blockdev" }, "unrecognized option '---blockdev'")]
    [InlineData(new[] { "-x" }, "invalid option -- 'x'")]
    [InlineData(new[] { "--blockdev" }, "option '--blockdev' requires an argument")]
    [InlineData(new[] { "--bl" }, "option '--blockdev' requires an argument")]
    [InlineData(new[] { "--pidfile" }, "option '--pidfile' requires an argument")]
    [InlineData(new[] { "-T" }, "option requires an argument -- 'T'")]
    [InlineData(new[] { "--help=x" }, "option '--help' doesn't allow an argument")]
    [InlineData(new[] { "--he=x" }, "option '--help' doesn't allow an argument")]
    [InlineData(new[] { "--daemonize=1" }, "option '--daemonize' doesn't allow an argument")]
    [InlineData(new[] { "-xV" }, "invalid option -- 'x'")]
    public void Scanning_errors_have_no_location(string[] args, string message)
    {
        CommandLineException error = Qsd.Fails(args);
        Assert.Null(error.Location);
        Assert.Equal(message, error.Message);
        Assert.Equal($"qemu-storage-daemon: {message}\n", error.Format(Qsd.Program));
    }

    [Fact]
    public void Empty_prefix_is_ambiguous_and_lists_every_option_in_table_order()
    {
        // qsd lists the same minus '--config', our extension.
        Assert.Equal(
            "option '--=x' is ambiguous; possibilities: '--blockdev' '--chardev' '--config' '--daemonize' " +
            "'--export' '--help' '--monitor' '--nbd-server' '--object' '--pidfile' '--trace' '--version'",
            Qsd.Fails("--=x").Message);
    }

    [Fact]
    public void Config_makes_c_ambiguous()
    {
        Assert.Equal("option '--c' is ambiguous; possibilities: '--chardev' '--config'", Qsd.Fails("--c", "x").Message);
    }

    [Theory]
    [InlineData("--he")]
    [InlineData("-h")]
    [InlineData("-hx")]
    [InlineData("-hV")]
    public void Help_by_name_prefix_or_cluster(string option)
    {
        Assert.Equal(CommandLineAction.Help, DaemonCommandLine.Parse([option]).Action);
    }

    [Theory]
    [InlineData("-V")]
    [InlineData("--vers")]
    [InlineData("-Vh")]
    [InlineData("-Vx")]
    public void Version_by_name_prefix_or_cluster(string option)
    {
        Assert.Equal(CommandLineAction.Version, DaemonCommandLine.Parse([option]).Action);
    }

    [Fact]
    public void First_pass_help_beats_later_scanning_errors_and_all_argument_errors()
    {
        Assert.Equal(CommandLineAction.Help, DaemonCommandLine.Parse(["--help", "--foo"]).Action);
        Assert.Equal(CommandLineAction.Help, DaemonCommandLine.Parse(["extra", "--help"]).Action);
        Assert.Equal(CommandLineAction.Help, DaemonCommandLine.Parse(["--blockdev", "a,,b", "-h"]).Action);
        Assert.Equal("unrecognized option '--foo'", Qsd.Fails("--foo", "--help").Message);
    }

    [Fact]
    public void Scanning_errors_beat_argument_errors_that_come_first()
    {
        Assert.Equal("unrecognized option '--foo'", Qsd.Fails("--blockdev", "a,,b", "--foo").Message);
    }

    [Fact]
    public void Long_option_argument_forms_and_abbreviation()
    {
        DaemonCommandLine line = DaemonCommandLine.Parse(["--pidfile", "/a", "--pid=/b", "--pidfile=", "--d"]);
        Assert.Equal(["--pidfile /a", "--pid=/b", "--pidfile=", "--d"], line.Options.Select(o => o.Location));
        Assert.Equal(["/a", "/b", ""], line.Options.OfType<PidfileOption>().Select(o => o.Path));
        Assert.True(line.Daemonize);
        Assert.Equal("", line.PidFile);
    }

    [Fact]
    public void Required_argument_is_the_next_word_even_if_it_looks_like_an_option()
    {
        Assert.Equal("--help", Qsd.Single<PidfileOption>("--pidfile", "--help").Path);
    }

    [Fact]
    public void Trace_argument_attached_or_separate()
    {
        Assert.Equal("-Tfoo", Qsd.Single<TraceOption>("-Tfoo").Location);
        Assert.Equal("-T foo", Qsd.Single<TraceOption>("-T", "foo").Location);
        Assert.Equal("h", Qsd.Single<TraceOption>("-Th").Enable);
    }

    [Theory]
    [InlineData(new[] { "extra" }, "extra: Unexpected argument")]
    [InlineData(new[] { "-" }, "-: Unexpected argument")]
    [InlineData(new[] { "extra", "--blockdev", "x=1" }, "extra: Unexpected argument")]
    [InlineData(new[] { "--blockdev", "a,,b", "extra" }, "--blockdev a,,b: Invalid parameter ''")]
    public void Non_options_fail_in_place(string[] args, string message)
    {
        Assert.Equal(message, Qsd.Fails(args).Message);
    }

    [Fact]
    public void Everything_after_double_dash_is_ignored()
    {
        DaemonCommandLine line = DaemonCommandLine.Parse(["--daemonize", "--", "--blockdev=x", "junk"]);
        Assert.Equal(CommandLineAction.Run, line.Action);
        Assert.IsType<DaemonizeOption>(Assert.Single(line.Options));
        Assert.Equal(["--blockdev=x", "junk"], line.IgnoredArguments);
    }

    [Fact]
    public void Empty_command_line_runs_nothing()
    {
        DaemonCommandLine line = DaemonCommandLine.Parse([]);
        Assert.Equal(CommandLineAction.Run, line.Action);
        Assert.Empty(line.Options);
    }
}
