using Xunit;

namespace BlockDaemon.CommandLine.Tests;

/// <summary>The parse result as a whole: order, locations, passes, deferred errors.</summary>
public sealed class DaemonCommandLineTests
{
    private static readonly string[] TypicalIotest =
    [
        "--chardev", "socket,id=qmp0,path=/tmp/qmp.sock,server=on,wait=off",
        "--monitor", "chardev=qmp0",
        "--blockdev", "driver=file,filename=/tmp/t.qcow2,node-name=file0",
        "--blockdev", "qcow2,file=file0,node-name=fmt0",
        "--nbd-server", "addr.type=unix,addr.path=/tmp/nbd.sock",
        "--export", "nbd,id=exp0,node-name=fmt0,writable=on",
        "--object", "iothread,id=io0",
        "--pidfile", "/tmp/qsd.pid",
        "--config=/etc/blockd.json",
        "-T", "nbd_*",
        "--daemonize",
    ];

    [Fact]
    public void Options_keep_command_line_order_and_locations()
    {
        DaemonCommandLine line = DaemonCommandLine.Parse(TypicalIotest);
        Assert.Equal(CommandLineAction.Run, line.Action);
        Assert.Equal(
            [typeof(ChardevOption), typeof(MonitorOption), typeof(BlockdevOption), typeof(BlockdevOption), typeof(NbdServerOption),
             typeof(ExportOption), typeof(ObjectOption), typeof(PidfileOption), typeof(ConfigOption), typeof(TraceOption), typeof(DaemonizeOption)],
            line.Options.Select(o => o.GetType()));
        Assert.Equal("--blockdev qcow2,file=file0,node-name=fmt0", line.Options[3].Location);
        Assert.Equal("--config=/etc/blockd.json", line.Options[8].Location);
        Assert.Equal(("/tmp/qsd.pid", "/etc/blockd.json", true), (line.PidFile, line.ConfigFile, line.Daemonize));
        Assert.Equal("""{"type":"nbd","id":"exp0","node-name":"fmt0","writable":"on"}""",
            ((ExportOption)line.Options[5]).Options.ToJsonString());
        Assert.Equal("""{"addr":{"type":"unix","path":"/tmp/nbd.sock"}}""",
            ((NbdServerOption)line.Options[4]).Options.ToJsonString());
    }

    [Fact]
    public void Eager_parse_fails_at_the_first_bad_option()
    {
        CommandLineException error = Qsd.Fails("--blockdev", "null-co,node-name=a", "--blockdev", "a,,b", "--blockdev", "c,,d");
        Assert.Equal(("--blockdev a,,b", "Invalid parameter ''"), (error.Location, error.Detail));
        Assert.Equal("--blockdev a,,b: Invalid parameter ''", error.Message);
    }

    [Fact]
    public void Deferred_parse_keeps_good_options_and_stops_at_the_bad_one()
    {
        DaemonCommandLine line = DaemonCommandLine.Parse(
            ["--blockdev", "null-co,node-name=a", "--chardev", "socket,id=c,server,path=/s", "--blockdev", "a,,b", "--blockdev", "c,,d"],
            deferOptionErrors: true);
        Assert.Equal(3, line.Options.Count);
        Assert.Single(line.Options[1].Warnings);
        InvalidOption invalid = Assert.IsType<InvalidOption>(line.Options[2]);
        Assert.Equal("--blockdev a,,b", invalid.Location);
        Assert.Equal("qemu-storage-daemon: --blockdev a,,b: Invalid parameter ''\n", invalid.Error.Format(Qsd.Program));
    }

    [Fact]
    public void Deferral_never_applies_to_scanning_errors()
    {
        Assert.Throws<CommandLineException>(() => DaemonCommandLine.Parse(["--blockdev", "null-co", "--bogus"], deferOptionErrors: true));
    }

    [Fact]
    public void Eager_failure_carries_the_warnings_printed_before_it()
    {
        Assert.Equal(
            "qemu-storage-daemon: --chardev socket,id=c,server,path=/s: warning: short-form boolean option 'server' deprecated\n" +
            "Please use server=on instead\n" +
            "qemu-storage-daemon: extra: Unexpected argument\n",
            Qsd.Stderr("--chardev", "socket,id=c,server,path=/s", "extra"));
    }

    [Fact]
    public void Hint_follows_the_error_line()
    {
        Assert.Equal(
            "blockd: --chardev socket,id=1a: Parameter 'id' expects an identifier\n" +
            "Identifiers consist of letters, digits, '-', '.', '_', starting with a letter.\n",
            Qsd.Fails("--chardev", "socket,id=1a").Format("blockd"));
    }

    [Fact]
    public void Help_and_version_carry_no_options()
    {
        DaemonCommandLine help = DaemonCommandLine.Parse(["--blockdev", "null-co,node-name=n", "--help"]);
        Assert.Equal(CommandLineAction.Help, help.Action);
        Assert.Empty(help.Options);
        Assert.Equal(CommandLineAction.Version, DaemonCommandLine.Parse(["-V", "--blockdev", "bad,,"]).Action);
    }

    [Fact]
    public void Help_text_lists_every_option_under_the_given_program_name()
    {
        string text = HelpText.Render("blockd");
        Assert.StartsWith("Usage: blockd [options]\n", text, StringComparison.Ordinal);
        Assert.EndsWith("\n", text, StringComparison.Ordinal);
        Assert.DoesNotContain("\r", text, StringComparison.Ordinal);
        foreach (string option in new[] { "-h, --help", "-T, --trace", "-V, --version", "--blockdev", "--chardev", "--config",
                     "--daemonize", "--export", "--monitor", "--nbd-server", "--object", "--pidfile" })
        {
            Assert.Contains("  " + option, text, StringComparison.Ordinal);
        }

        Assert.All(text.Split('\n'), line => Assert.True(line.Length <= 80, line));
    }
}
