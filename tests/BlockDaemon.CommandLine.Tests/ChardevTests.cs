using Xunit;

namespace BlockDaemon.CommandLine.Tests;

/// <summary>--chardev in QemuOpts syntax; messages recorded from qsd 7.2.</summary>
public sealed class ChardevTests
{
    [Fact]
    public void Unix_server_socket_with_typed_properties()
    {
        ChardevOption chardev = Qsd.Single<ChardevOption>("--chardev", "socket,id=qmp0,path=/run/q,,1.sock,server=on,wait=off");
        Assert.Equal("qmp0", chardev.Id);
        Assert.Equal("socket", chardev.Backend);
        Assert.Equal("""{"path":"/run/q,1.sock","server":true,"wait":false}""", chardev.Properties.ToJsonString());
        Assert.Empty(chardev.Warnings);
    }

    [Fact]
    public void Tcp_client_socket_with_numbers_and_qapi_boolean_spellings()
    {
        ChardevOption chardev = Qsd.Single<ChardevOption>("--chardev", "backend=socket,host=::1,port=4444,reconnect=0x10,nodelay=yes,id=c");
        Assert.Equal("""{"host":"::1","port":"4444","reconnect":16,"nodelay":true}""", chardev.Properties.ToJsonString());
    }

    [Fact]
    public void First_id_names_the_chardev_and_last_option_value_wins()
    {
        ChardevOption chardev = Qsd.Single<ChardevOption>("--chardev", "socket,id=a,id=b,path=/x,path=/y,server=on,wait=off");
        Assert.Equal("a", chardev.Id);
        Assert.Equal("/y", chardev.Properties["path"]!.GetValue<string>());
    }

    [Fact]
    public void Short_form_booleans_warn_like_qsd()
    {
        ChardevOption chardev = Qsd.Single<ChardevOption>("--chardev", "socket,id=a,server,nowait,path=/s");
        Assert.Equal(
            "qemu-storage-daemon: --chardev socket,id=a,server,nowait,path=/s: warning: short-form boolean option 'server' deprecated\n" +
            "Please use server=on instead\n" +
            "qemu-storage-daemon: --chardev socket,id=a,server,nowait,path=/s: warning: short-form boolean option 'nowait' deprecated\n" +
            "Please use wait=off instead\n",
            string.Concat(chardev.Warnings.Select(w => w.Format(Qsd.Program))));
        Assert.Equal("""{"server":true,"wait":false,"path":"/s"}""", chardev.Properties.ToJsonString());
    }

    [Fact]
    public void Delay_flag_points_to_nodelay()
    {
        ChardevOption chardev = Qsd.Single<ChardevOption>("--chardev", "socket,id=a,path=/s,delay");
        Assert.Equal("Please use nodelay=off instead", Assert.Single(chardev.Warnings).Hint);
    }

    [Fact]
    public void Warnings_printed_before_the_error_come_with_it()
    {
        Assert.Equal(
            "qemu-storage-daemon: --chardev socket,id=c,nohelp: warning: short-form boolean option 'nohelp' deprecated\n" +
            "Please use help=off instead\n" +
            "qemu-storage-daemon: --chardev socket,id=c,nohelp: Invalid parameter 'help'\n",
            Qsd.Stderr("--chardev", "socket,id=c,nohelp"));
    }

    [Theory]
    [InlineData("", "chardev: no id specified")]
    [InlineData("socket", "chardev: no id specified")]
    [InlineData("id=c", "chardev: \"c\" missing backend")]
    [InlineData("foo,id=a", "'foo' is not a valid char driver name")]
    [InlineData(",id=a", "'' is not a valid char driver name")]
    [InlineData("socket,,x,id=a", "'socket,x' is not a valid char driver name")]
    [InlineData("id", "'id' is not a valid char driver name")]
    [InlineData("socket,id=a,bogus=1", "Invalid parameter 'bogus'")]
    [InlineData("socket,id=a,server=bogus", "Parameter 'server' expects 'on' or 'off'")]
    [InlineData("socket,id=c,path=/s,reconnect=abc", "Parameter 'reconnect' expects a number")]
    [InlineData("socket,id=c,path=/s,reconnect=08", "Parameter 'reconnect' expects a number")]
    [InlineData("socket,id=c,path=/s,reconnect=99999999999999999999999", "Value '99999999999999999999999' is too large for parameter 'reconnect'")]
    [InlineData("socket,id=c,path=/s,server=on,reconnect=-1", "'reconnect' option is incompatible with socket in server listen mode")]
    [InlineData("socket,id=a", "Unable to parse FD number ")]
    [InlineData("socket,id=c,port=1", "Unable to parse FD number ")]
    [InlineData("socket,id=c,fd=x", "Unable to parse FD number x")]
    [InlineData("socket,id=a,nowait", "'wait' option is incompatible with socket in client connect mode")]
    [InlineData("socket,id=c,host=x,port=1,server=off,wait=off", "'wait' option is incompatible with socket in client connect mode")]
    [InlineData("socket,id=a,host=localhost", "chardev: socket: no port given")]
    [InlineData("socket,id=c,path=/s,host=x", "None or one of 'path', 'fd' or 'host' option required.")]
    [InlineData("socket,id=c,path=/s,delay=on,nodelay=on", "'delay' and 'nodelay' are mutually exclusive")]
    [InlineData("socket,id=c,path=/s,tls-authz=x", "'tls_authz' option requires 'tls_creds' option")]
    [InlineData("socket,id=c,host=h,port=1,websocket=on", "Websocket client is not implemented")]
    [InlineData("socket,id=c,fd=3,reconnect=1", "'reconnect' option is incompatible with 'fd' address type")]
    public void Chardev_errors_match_qsd(string argument, string message)
    {
        CommandLineException error = Qsd.Fails("--chardev", argument);
        Assert.Equal("--chardev " + argument, error.Location);
        Assert.Equal(message, error.Detail);
    }

    [Theory]
    [InlineData("socket,id=1a")]
    [InlineData("help,id=1x")]
    [InlineData("socket,id=a,,")]
    public void Malformed_id_fails_first_with_a_hint(string argument)
    {
        CommandLineException error = Qsd.Fails("--chardev", argument);
        Assert.Equal("Parameter 'id' expects an identifier", error.Detail);
        Assert.Equal("Identifiers consist of letters, digits, '-', '.', '_', starting with a letter.", error.Hint);
    }

    [Fact]
    public void Size_errors_carry_the_suffix_hint()
    {
        CommandLineException error = Qsd.Fails("--chardev", "socket,id=c,path=/s,size=1x");
        Assert.Equal("Parameter 'size' expects a non-negative number below 2^64", error.Detail);
        Assert.Equal("Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\nand exabytes, respectively.", error.Hint);
        Assert.Equal(1536UL, Qsd.Single<ChardevOption>("--chardev", "socket,id=c,path=/s,size=1.5k").Properties["size"]!.GetValue<ulong>());
    }

    [Fact]
    public void Backends_qsd_has_but_we_do_not_get_our_own_message()
    {
        Assert.Equal("Chardev backend 'file' is not supported; use 'socket'", Qsd.Fails("--chardev", "file,id=f,path=/x").Detail);
    }

    [Theory]
    [InlineData("help")]
    [InlineData("?")]
    public void Backend_help_lists_socket_and_exits_0(string argument)
    {
        PrintHelpOption help = Qsd.Single<PrintHelpOption>("--chardev", argument);
        Assert.Equal("Available chardev backend types: \n  socket\n", help.Text);
        Assert.Equal(0, help.ExitCode);
    }

    [Theory]
    [InlineData("socket,help")]
    [InlineData("socket,id=c,?")]
    [InlineData("foo,help,bogus=1")]
    public void Option_help_lists_options_sorted_and_exits_1(string argument)
    {
        PrintHelpOption help = Qsd.Single<PrintHelpOption>("--chardev", argument);
        Assert.Equal(1, help.ExitCode);
        Assert.StartsWith("chardev options:\n  abstract=<bool (on/off)>\n  append=<bool (on/off)>\n  backend=<str>\n", help.Text, StringComparison.Ordinal);
        Assert.Contains("\n  reconnect=<num>\n", help.Text, StringComparison.Ordinal);
        Assert.Contains("\n  size=<size>\n", help.Text, StringComparison.Ordinal);
        Assert.EndsWith("  width=<num>\n", help.Text, StringComparison.Ordinal);
    }
}
