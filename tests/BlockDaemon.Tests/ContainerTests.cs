using BlockDaemon.TestKit;

namespace BlockDaemon.Tests;

/// <summary>
/// The Dockerfile's runtime image, built and run with podman by deploy/container/verify.sh: QMP
/// through a bind-mounted socket, an NBD export read from outside, the HEALTHCHECK, a clean
/// stop. Skipped where podman is not installed (CI does not install it: a first run also builds
/// a Debian base image with debootstrap, about a minute; later runs take seconds).
/// </summary>
public sealed class ContainerTests
{
    [Fact]
    public async Task Runtime_image_serves_qmp_and_nbd_through_bind_mounts()
    {
        ExternalTools.Require("podman", "socat", "nbdinfo", "nbdcopy");
        if (Environment.UserName != "root")
        {
            Assert.Skip("verify.sh needs root (rootful podman)");
        }
        string blockd = await AotBinary.GetAsync();
        string script = Path.Combine(AotBinary.RepoRoot(), "deploy", "container", "verify.sh");

        var result = await RunAsync(script, blockd);

        if (result.ExitCode == 2)
        {
            Assert.Skip("verify.sh lacks a tool: " + result.Stderr.Trim());
        }
        Assert.True(result.ExitCode == 0 && result.Stdout.Contains("container verify: ok", StringComparison.Ordinal), result.ToString());
    }

    private static async Task<ToolResult> RunAsync(string script, string blockd)
    {
        var info = new System.Diagnostics.ProcessStartInfo(script)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        info.Environment["BLOCKD_BINARY"] = blockd;
        using var process = SpawnGate.Start(info);
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        try
        {
            await process.WaitForExitAsync(TestContext.Current.CancellationToken).WaitAsync(TimeSpan.FromMinutes(10), TestContext.Current.CancellationToken);
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }
        return new ToolResult(script, process.ExitCode, await stdout, await stderr);
    }
}
