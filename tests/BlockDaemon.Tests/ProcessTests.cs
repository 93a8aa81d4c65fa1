using System.Diagnostics;
using BlockDaemon.TestKit;

namespace BlockDaemon.Tests;

public sealed class ProcessTests
{
    [Fact]
    public async Task Version_exits_zero()
    {
        var (exitCode, stdout, _) = await Blockd.RunAsync("--version");

        Assert.Equal(0, exitCode);
        Assert.StartsWith("blockd version ", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Help_exits_zero_and_describes_blockdev()
    {
        var (exitCode, stdout, _) = await Blockd.RunAsync("--help");

        Assert.Equal(0, exitCode);
        Assert.Contains("--blockdev", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bad_blockdev_exits_one_with_location_and_message()
    {
        var (exitCode, stdout, stderr) = await Blockd.RunAsync("--blockdev", "driver=bogus,node-name=x");

        Assert.Equal(1, exitCode);
        Assert.Equal("", stdout);
        Assert.StartsWith("blockd: --blockdev driver=bogus,node-name=x: ", stderr, StringComparison.Ordinal);
        Assert.Contains("Parameter 'driver' does not accept value 'bogus'", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Blockdev_of_a_missing_file_exits_one()
    {
        using var dir = new TempDirectory();
        string missing = dir["missing.img"];

        var (exitCode, _, stderr) = await Blockd.RunAsync("--blockdev", $"driver=file,node-name=f,filename={missing}");

        Assert.Equal(1, exitCode);
        Assert.StartsWith($"blockd: --blockdev driver=file,node-name=f,filename={missing}: ", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task No_arguments_serves_the_default_socket_until_sigterm()
    {
        using var runtime = new TempDirectory();
        string socket = Path.Combine(runtime.Path, "blockd", "qmp.sock");
        using var process = Blockd.Start([], new Dictionary<string, string> { ["XDG_RUNTIME_DIR"] = runtime.Path });
        try
        {
            await Blockd.WaitForAsync(() => File.Exists(socket), socket);
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(socket));
            using (var client = await UnixQmpClient.ConnectAsync(socket))
            {
                await client.NegotiateAsync();
                var version = await client.CommandAsync("""{"execute": "query-version", "id": 1}""");
                Assert.Equal(2, (int)version["return"]!["qemu"]!["minor"]!);
            }

            Blockd.Signal(process.Id, "TERM");
            await process.WaitForExitAsync(TestContext.Current.CancellationToken).WaitAsync(Blockd.Timeout, TestContext.Current.CancellationToken);

            Assert.Equal(0, process.ExitCode);
            Assert.False(File.Exists(socket), "The socket outlived the daemon");
        }
        finally
        {
            Blockd.Kill(process);
        }
    }

    [Fact]
    public async Task Pidfile_holds_the_pid_while_running_and_is_removed_on_exit()
    {
        using var dir = new TempDirectory();
        string pidFile = dir["blockd.pid"];
        string socket = dir["qmp.sock"];
        using var process = Blockd.Start(["--pidfile", pidFile, "--chardev", $"socket,id=m,path={socket},server=on,wait=off", "--monitor", "chardev=m"]);
        try
        {
            await Blockd.WaitForAsync(() => File.Exists(pidFile) && File.ReadAllText(pidFile).EndsWith('\n'), pidFile);
            Assert.Equal(process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), File.ReadAllText(pidFile).Trim());

            Blockd.Signal(process.Id, "TERM");
            await process.WaitForExitAsync(TestContext.Current.CancellationToken).WaitAsync(Blockd.Timeout, TestContext.Current.CancellationToken);

            Assert.Equal(0, process.ExitCode);
            Assert.False(File.Exists(pidFile), "The pid file outlived the daemon");
        }
        finally
        {
            Blockd.Kill(process);
        }
    }

    [Fact]
    public async Task Config_file_adds_nodes_and_monitors()
    {
        using var dir = new TempDirectory();
        string socket = dir["config.sock"];
        string config = dir["blockd.json"];
        await File.WriteAllTextAsync(config, $$"""
            {
              // comments and trailing commas are allowed
              "Blockd": {
                "Monitors": [ { "Path": "{{socket}}", "Pretty": false } ],
                "Blockdevs": [ { "driver": "null-co", "node-name": "cfg0", "size": 65536 }, ],
              }
            }
            """, TestContext.Current.CancellationToken);
        using var process = Blockd.Start(["--config", config]);
        try
        {
            using var client = await UnixQmpClient.ConnectAsync(socket);
            await client.NegotiateAsync();
            var reply = await client.CommandAsync("""{"execute": "query-named-block-nodes"}""");

            var node = Assert.Single(reply["return"]!.AsArray());
            Assert.Equal("cfg0", (string)node!["node-name"]!);
            Assert.Equal("null-co", (string)node["drv"]!);
            Assert.Equal(65536L, (long)node["image"]!["virtual-size"]!);

            Assert.True((await client.CommandAsync("""{"execute": "quit"}""")).ContainsKey("return"));
            await process.WaitForExitAsync(TestContext.Current.CancellationToken).WaitAsync(Blockd.Timeout, TestContext.Current.CancellationToken);
            Assert.Equal(0, process.ExitCode);
        }
        finally
        {
            Blockd.Kill(process);
        }
    }

    [Fact]
    public async Task Config_file_with_a_bad_blockdev_exits_one()
    {
        using var dir = new TempDirectory();
        string config = dir["bad.json"];
        await File.WriteAllTextAsync(config, """{"Blockd": {"Blockdevs": [{"driver": "null-co"}]}}""", TestContext.Current.CancellationToken);

        var (exitCode, _, stderr) = await Blockd.RunAsync("--config", config);

        Assert.Equal(1, exitCode);
        Assert.StartsWith($"blockd: --config {config}", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Daemonize_returns_once_the_socket_is_ready_and_the_daemon_keeps_running()
    {
        using var dir = new TempDirectory();
        string socket = dir["daemon.sock"];
        string pidFile = dir["daemon.pid"];
        // The daemon inherits no pipe of ours: wait for the parent only, not for EOF on its output.
        var info = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
        info.ArgumentList.Add("-c");
        info.ArgumentList.Add("exec \"$0\" \"$@\" >/dev/null 2>&1 </dev/null");
        info.ArgumentList.Add(Blockd.BinaryPath());
        foreach (string arg in new[] { "--daemonize", "--pidfile", pidFile, "--chardev", $"socket,id=m,path={socket},server=on,wait=off", "--monitor", "chardev=m" })
        {
            info.ArgumentList.Add(arg);
        }
        int? daemonPid = null;
        using var parent = Process.Start(info)!;
        try
        {
            await parent.WaitForExitAsync(TestContext.Current.CancellationToken).WaitAsync(Blockd.Timeout, TestContext.Current.CancellationToken);
            Assert.Equal(0, parent.ExitCode);
            // Ready means ready: the socket exists as soon as the parent has returned.
            Assert.True(File.Exists(socket), "The parent returned before the monitor socket existed");
            Assert.True(File.Exists(pidFile), "The parent returned before the pid file was written");
            daemonPid = int.Parse(File.ReadAllText(pidFile).Trim(), System.Globalization.CultureInfo.InvariantCulture);
            Assert.NotEqual(parent.Id, daemonPid);

            using var daemon = Process.GetProcessById(daemonPid.Value);
            using (var client = await UnixQmpClient.ConnectAsync(socket))
            {
                await client.NegotiateAsync();
                Assert.True((await client.CommandAsync("""{"execute": "quit"}""")).ContainsKey("return"));
            }
            await Blockd.WaitForAsync(() => daemon.HasExited, "the daemon to quit");
            await Blockd.WaitForAsync(() => !File.Exists(pidFile), "the pid file to be removed");
        }
        finally
        {
            Blockd.Kill(parent);
            if (daemonPid is { } pid)
            {
                Blockd.KillPid(pid);
            }
        }
    }
}
