using System.Net.Sockets;
using System.Text;
using BlockDaemon.TestKit;

namespace BlockDaemon.Tests;

/// <summary>sd_notify without systemd: a datagram socket stands in for the service manager.</summary>
public sealed class SystemdNotifyTests
{
    [Fact]
    public async Task Notify_sends_the_state_as_one_datagram_to_a_path()
    {
        using var dir = new TempDirectory();
        using var manager = FakeServiceManager.Bind(dir["notify.sock"]);

        Assert.True(SystemdNotify.Notify(dir["notify.sock"], "READY=1\nMAINPID=42"));

        Assert.Equal("READY=1\nMAINPID=42", await manager.ReceiveAsync());
    }

    [Fact]
    public async Task Notify_reaches_an_abstract_socket_named_with_an_at_sign()
    {
        string name = "blockd-test-" + Guid.NewGuid().ToString("N");
        using var manager = FakeServiceManager.Bind("\0" + name);

        Assert.True(SystemdNotify.Notify("@" + name, "STOPPING=1"));

        Assert.Equal("STOPPING=1", await manager.ReceiveAsync());
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("relative/notify.sock")]
    public void Notify_does_nothing_without_a_usable_socket_name(string? socket)
    {
        Assert.False(SystemdNotify.Notify(socket, "READY=1"));
    }

    [Fact]
    public void Notify_reports_a_socket_nobody_listens_on_without_throwing()
    {
        using var dir = new TempDirectory();

        Assert.False(SystemdNotify.Notify(dir["absent.sock"], "READY=1"));
    }

    [Fact]
    public async Task Daemon_reports_ready_once_its_monitor_listens_and_stopping_on_sigterm()
    {
        using var dir = new TempDirectory();
        using var manager = FakeServiceManager.Bind(dir["notify.sock"]);
        string qmp = dir["qmp.sock"];
        using var process = Blockd.Start(
            ["--chardev", $"socket,id=m0,path={qmp},server=on,wait=off", "--monitor", "chardev=m0", "--blockdev", "null-co,node-name=n0"],
            new Dictionary<string, string> { [SystemdNotify.EnvironmentVariable] = dir["notify.sock"] });
        try
        {
            string ready = await manager.ReceiveAsync();

            Assert.Equal($"READY=1\nMAINPID={process.Id}", ready);
            // At READY=1 the monitor must already accept: connect once, without retrying.
            using (var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
            {
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(qmp), TestContext.Current.CancellationToken);
            }

            Blockd.Signal(process.Id, "TERM");
            Assert.Equal("STOPPING=1", await manager.ReceiveAsync());
            await process.WaitForExitAsync(TestContext.Current.CancellationToken).WaitAsync(Blockd.Timeout, TestContext.Current.CancellationToken);
            Assert.Equal(0, process.ExitCode);
        }
        finally
        {
            Blockd.Kill(process);
        }
    }

    [Fact]
    public async Task Daemon_that_fails_to_start_never_reports_ready()
    {
        using var dir = new TempDirectory();
        using var manager = FakeServiceManager.Bind(dir["notify.sock"]);
        using var process = Blockd.Start(
            ["--blockdev", $"driver=file,node-name=f,filename={dir["missing.img"]}"],
            new Dictionary<string, string> { [SystemdNotify.EnvironmentVariable] = dir["notify.sock"] });
        try
        {
            await process.WaitForExitAsync(TestContext.Current.CancellationToken).WaitAsync(Blockd.Timeout, TestContext.Current.CancellationToken);

            Assert.Equal(1, process.ExitCode);
            Assert.Equal(0, manager.Available);
        }
        finally
        {
            Blockd.Kill(process);
        }
    }

    private sealed class FakeServiceManager : IDisposable
    {
        private readonly Socket _socket;

        private FakeServiceManager(Socket socket) => _socket = socket;

        public int Available => _socket.Available;

        public static FakeServiceManager Bind(string path)
        {
            var socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
            socket.Bind(new UnixDomainSocketEndPoint(path));
            return new FakeServiceManager(socket);
        }

        public async Task<string> ReceiveAsync()
        {
            var buffer = new byte[4096];
            int n = await _socket.ReceiveAsync(buffer, TestContext.Current.CancellationToken).AsTask()
                .WaitAsync(Blockd.Timeout, TestContext.Current.CancellationToken);
            return Encoding.UTF8.GetString(buffer, 0, n);
        }

        public void Dispose() => _socket.Dispose();
    }
}
