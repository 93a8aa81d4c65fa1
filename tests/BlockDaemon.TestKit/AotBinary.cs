using System.Diagnostics;
using Xunit;

namespace BlockDaemon.TestKit;

/// <summary>
/// The shipped form of blockd, published for tests: `dotnet publish src/BlockDaemon -c Release
/// -r linux-x64` (Native AOT) into artifacts/aot, once per test process and under a file lock
/// across test processes (dotnet test runs the projects in parallel). A publish with nothing
/// changed takes a few seconds; the first one compiles and links the Release build (a minute or
/// two on two cores).
/// </summary>
public static class AotBinary
{
    private static readonly TimeSpan PublishTimeout = TimeSpan.FromMinutes(15);
    private static readonly Lazy<Task<string>> Published = new(PublishAsync);

    /// <summary>The path of the published binary; fails the test when publishing fails.</summary>
    public static Task<string> GetAsync() => Published.Value;

    public static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "BlockDaemon.sln")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException("BlockDaemon.sln not found above " + AppContext.BaseDirectory);
    }

    private static async Task<string> PublishAsync()
    {
        string repo = RepoRoot();
        string output = Path.Combine(repo, "artifacts", "aot");
        Directory.CreateDirectory(output);
        using var publishLock = await LockAsync(Path.Combine(repo, "artifacts", "aot.lock"));
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = repo,
        };
        // No MSBuild node stays behind once the test run ends.
        foreach (string arg in new[] { "publish", "src/BlockDaemon", "-c", "Release", "-r", "linux-x64", "-o", output, "--nologo", "-v", "quiet", "-nodeReuse:false" })
        {
            info.ArgumentList.Add(arg);
        }
        // The test host's MSBuild and runtime variables must not steer the SDK it starts.
        foreach (string key in info.Environment.Keys.Where(k => k.StartsWith("MSBuild", StringComparison.OrdinalIgnoreCase) || k == "DOTNET_HOST_PATH").ToList())
        {
            info.Environment.Remove(key);
        }
        using var process = SpawnGate.Start(info);
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(PublishTimeout);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"dotnet publish (Native AOT) did not finish within {PublishTimeout.TotalMinutes} minutes");
        }
        string binary = Path.Combine(output, "blockd");
        if (process.ExitCode != 0 || !File.Exists(binary))
        {
            Assert.Fail($"dotnet publish (Native AOT) failed with exit code {process.ExitCode}:\n{await stdout}\n{await stderr}");
        }
        // Warnings would fail the publish (TreatWarningsAsErrors); none may be printed either.
        string printed = (await stdout + await stderr).Trim();
        Assert.True(!printed.Contains("warning", StringComparison.OrdinalIgnoreCase), "dotnet publish printed warnings:\n" + printed);
        return binary;
    }

    private static async Task<FileStream> LockAsync(string path)
    {
        var deadline = DateTime.UtcNow + PublishTimeout;
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(500);
            }
        }
    }
}
