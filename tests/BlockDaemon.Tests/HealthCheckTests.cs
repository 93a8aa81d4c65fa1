using System.Net.Sockets;
using BlockDaemon.TestKit;

namespace BlockDaemon.Tests;

/// <summary>`blockd --health-check SOCKET`, the probe of the container image and the Kubernetes sample.</summary>
public sealed class HealthCheckTests
{
    [Fact]
    public async Task Answers_with_the_version_of_a_running_daemon()
    {
        using var dir = new TempDirectory();
        string qmp = dir["qmp.sock"];
        using var daemon = Blockd.Start(["--chardev", $"socket,id=m0,path={qmp},server=on,wait=off", "--monitor", "chardev=m0"]);
        try
        {
            using (await UnixQmpClient.ConnectAsync(qmp))
            {
            }

            var (exitCode, stdout, stderr) = await Blockd.RunAsync("--health-check", qmp);

            Assert.Equal("", stderr);
            Assert.Equal(0, exitCode);
            Assert.StartsWith("QEMU 7.2.0 blockd ", stdout, StringComparison.Ordinal);
        }
        finally
        {
            Blockd.Kill(daemon);
        }
    }

    [Fact]
    public async Task Fails_when_no_socket_exists()
    {
        using var dir = new TempDirectory();

        var (exitCode, _, stderr) = await Blockd.RunAsync("--health-check", dir["absent.sock"]);

        Assert.Equal(1, exitCode);
        Assert.Equal($"blockd: --health-check {dir["absent.sock"]}: no such socket\n", stderr);
    }

    [Fact]
    public async Task Fails_within_its_timeout_when_the_peer_never_greets()
    {
        using var dir = new TempDirectory();
        using var silent = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        silent.Bind(new UnixDomainSocketEndPoint(dir["silent.sock"]));
        silent.Listen(1);

        var (exitCode, _, stderr) = await Blockd.RunAsync("--health-check", dir["silent.sock"], "0.5");

        Assert.Equal(1, exitCode);
        Assert.Contains("no answer within 0.5 s", stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--health-check")]
    [InlineData("--health-check", "a", "0")]
    [InlineData("--health-check", "a", "soon")]
    public async Task Refuses_a_bad_command_line(params string[] args)
    {
        var (exitCode, _, stderr) = await Blockd.RunAsync(args);

        Assert.Equal(2, exitCode);
        Assert.NotEqual("", stderr);
    }
}
