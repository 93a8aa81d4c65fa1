using System.Text.Json.Nodes;
using BlockDaemon.CommandLine;
using BlockDaemon.Qmp.Schema;
using BlockDaemon.TestKit;

namespace BlockDaemon.Tests;

/// <summary>
/// The files under deploy/ are checked as their consumers would: systemd-analyze verify for the
/// unit and its example drop-in, blockd's own parsers for every command line and config they
/// hold, a YAML parser for the Kubernetes sample.
/// </summary>
public sealed class DeployFilesTests
{
    private static string Repo()
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

    private static string Unit => Path.Combine(Repo(), "deploy", "systemd", "blockd.service");
    private static string DropIn => Path.Combine(Repo(), "deploy", "systemd", "blockd.service.d", "example.conf");

    [Fact]
    public async Task Systemd_unit_and_example_drop_in_pass_systemd_analyze_verify()
    {
        ExternalTools.Require("systemd-analyze");
        using var dir = new TempDirectory();
        // verify insists that ExecStart= names an existing executable: point it at the built
        // blockd instead of /usr/local/bin/blockd, and change nothing else.
        string blockd = Blockd.BinaryPath();
        string unit = dir["blockd.service"];
        Directory.CreateDirectory(dir["blockd.service.d"]);
        await File.WriteAllTextAsync(unit, (await File.ReadAllTextAsync(Unit, TestContext.Current.CancellationToken))
            .Replace("/usr/local/bin/blockd", blockd, StringComparison.Ordinal), TestContext.Current.CancellationToken);
        await File.WriteAllTextAsync(Path.Combine(dir["blockd.service.d"], "example.conf"), (await File.ReadAllTextAsync(DropIn, TestContext.Current.CancellationToken))
            .Replace("/usr/local/bin/blockd", blockd, StringComparison.Ordinal), TestContext.Current.CancellationToken);

        var result = await ExternalTools.RunAsync("systemd-analyze", ["verify", unit], TestContext.Current.CancellationToken);

        // Unknown keys or bad values are only warnings (exit 0): any output counts as a failure.
        Assert.True(result.Stdout.Length == 0 && result.Stderr.Length == 0, result.ToString());
    }

    [Fact]
    public void Systemd_unit_is_a_hardened_notify_service_with_a_runtime_directory()
    {
        var settings = Settings(File.ReadAllText(Unit));

        Assert.Equal("notify", settings["Type"].Single());
        Assert.Equal("blockd", settings["RuntimeDirectory"].Single());
        Assert.Equal("0077", settings["UMask"].Single());
        Assert.Equal("strict", settings["ProtectSystem"].Single());
        Assert.Equal("yes", settings["NoNewPrivileges"].Single());
        Assert.Equal("yes", settings["PrivateTmp"].Single());
        Assert.Contains("/var/lib/blockd", settings["ReadWritePaths"]);
        Assert.Contains("path=/run/blockd/qmp.sock", settings["ExecStart"].Single(), StringComparison.Ordinal);
    }

    [Fact]
    public void Command_lines_of_the_unit_and_the_drop_in_parse_without_errors()
    {
        foreach (string file in new[] { Unit, DropIn })
        {
            string execStart = Settings(File.ReadAllText(file))["ExecStart"].Last(v => v.Length > 0);
            string[] words = execStart.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal("/usr/local/bin/blockd", words[0]);

            var commandLine = DaemonCommandLine.Parse(words[1..], deferOptionErrors: true);

            Assert.Empty(commandLine.Options.OfType<InvalidOption>());
            Assert.Contains(commandLine.Options, o => o is MonitorOption);
        }
        var dropIn = DaemonCommandLine.Parse(Settings(File.ReadAllText(DropIn))["ExecStart"].Last().Split(' ', StringSplitOptions.RemoveEmptyEntries)[1..], deferOptionErrors: true);
        Assert.Contains(dropIn.Options, o => o is BlockdevOption);
        Assert.Contains(dropIn.Options, o => o is ExportOption);
    }

    [Fact]
    public void Example_config_file_is_valid_against_the_qmp_schema()
    {
        var config = ConfigFile.Load(Path.Combine(Repo(), "deploy", "blockd.json"));

        CheckAgainstSchema(config);
        Assert.Equal("/run/blockd/qmp.sock", Assert.Single(config.Monitors).SocketPath);
    }

    [Fact]
    public async Task Kubernetes_sample_is_valid_yaml_with_qmp_probes_and_a_valid_config()
    {
        ExternalTools.Require("python3");
        string manifest = Path.Combine(Repo(), "deploy", "kubernetes", "blockd-daemonset.yaml");
        var result = await ExternalTools.TryRunAsync("python3",
            ["-c", "import json, sys\ntry:\n    import yaml\nexcept ImportError:\n    sys.exit(77)\nprint(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))", manifest],
            ExternalTools.DefaultTimeout, TestContext.Current.CancellationToken);
        if (result.ExitCode == 77)
        {
            Assert.Skip("python3 has no yaml module (Debian: python3-yaml)");
        }
        Assert.True(result.ExitCode == 0, result.ToString());

        var docs = JsonNode.Parse(result.Stdout)!.AsArray();
        Assert.Equal(["Namespace", "ConfigMap", "DaemonSet"], docs.Select(d => (string)d!["kind"]!));
        var pod = docs[2]!["spec"]!["template"]!["spec"]!;
        var blockd = pod["containers"]!.AsArray().Single(c => (string)c!["name"]! == "blockd")!;
        foreach (string probe in new[] { "readinessProbe", "livenessProbe" })
        {
            var command = blockd[probe]!["exec"]!["command"]!.AsArray().Select(a => (string)a!).ToArray();
            Assert.Equal(["/usr/local/bin/blockd", "--health-check", "/run/blockd/qmp.sock"], command[..3]);
        }
        var volumes = pod["volumes"]!.AsArray();
        Assert.Contains(volumes, v => v!["hostPath"] is not null && (string)v["name"]! == "images");
        Assert.Contains(volumes, v => v!["emptyDir"] is not null && (string)v["name"]! == "sockets");
        // Every container that mounts the sockets sees them at the same place.
        Assert.All(pod["containers"]!.AsArray(), c => Assert.Contains(c!["volumeMounts"]!.AsArray(),
            m => (string)m!["name"]! == "sockets" && (string)m["mountPath"]! == "/run/blockd"));

        string json = (string)docs[1]!["data"]!["blockd.json"]!;
        var config = ConfigFile.Parse("configmap blockd.json", System.Text.Encoding.UTF8.GetBytes(json));
        CheckAgainstSchema(config);
        Assert.Equal("/run/blockd/qmp.sock", Assert.Single(config.Monitors).SocketPath);
    }

    private static void CheckAgainstSchema(ConfigFile config)
    {
        var schema = QmpSchema.LoadEmbedded();
        foreach (var entry in config.Blockdevs)
        {
            new ArgumentValidator(schema, false).ValidateArguments("BlockdevOptions", (JsonObject)entry.Arguments.DeepClone());
        }
        if (config.NbdServer is { } nbd)
        {
            new ArgumentValidator(schema, false).ValidateArguments("NbdServerOptions", (JsonObject)nbd.Arguments.DeepClone());
        }
        foreach (var entry in config.Exports)
        {
            new ArgumentValidator(schema, false).ValidateArguments("BlockExportOptions", (JsonObject)entry.Arguments.DeepClone());
        }
    }

    /// <summary>Key=value settings of a unit file, with continuation lines joined; keys may repeat.</summary>
    private static ILookup<string, string> Settings(string unitText)
    {
        var joined = unitText.Replace("\\\n", " ", StringComparison.Ordinal).Split('\n');
        return joined
            .Select(l => l.Trim())
            .Where(l => l.Length > 0 && l[0] is not ('#' or ';' or '[') && l.Contains('=', StringComparison.Ordinal))
            .Select(l => (Key: l[..l.IndexOf('=', StringComparison.Ordinal)], Value: l[(l.IndexOf('=', StringComparison.Ordinal) + 1)..].Trim()))
            .ToLookup(s => s.Key, s => s.Value, StringComparer.Ordinal);
    }
}
