using System.Text;
using BlockDaemon.TestKit;

namespace BlockDaemon.Tests;

/// <summary>--config FILE: structure checks (in process) and a full file applied by the daemon.</summary>
public sealed class ConfigFileTests
{
    private static ConfigFile Parse(string text) => ConfigFile.Parse("blockd.json", Encoding.UTF8.GetBytes(text));

    private static string ErrorOf(string text) => Assert.Throws<StartupException>(() => Parse(text)).Format();

    [Fact]
    public void Reads_every_section_with_paths_and_lines()
    {
        var config = Parse("""
            {
              "Logging": { "other": "settings are ignored" },
              "Blockd": {
                "Blockdevs": [
                  { "driver": "null-co", "node-name": "n0" },
                  { "driver": "raw", "node-name": "r0", "file": "n0" }
                ],
                "NbdServer": { "addr": { "type": "unix", "path": "/run/blockd/nbd.sock" } },
                "Exports": [ { "type": "nbd", "id": "e0", "node-name": "r0" } ],
                "Monitors": [
                  { "Path": "/run/blockd/qmp.sock", "Mode": "0660" },
                  { "Path": "/run/blockd/qmp-pretty.sock", "Pretty": true }
                ]
              }
            }
            """);

        Assert.Equal(["Blockd.Blockdevs[0]:5", "Blockd.Blockdevs[1]:6"], config.Blockdevs.Select(e => $"{e.JsonPath}:{e.Line}"));
        Assert.Equal("r0", (string)config.Blockdevs[1].Arguments["node-name"]!);
        Assert.Equal(8, config.NbdServer!.Line);
        Assert.Equal("e0", (string)Assert.Single(config.Exports).Arguments["id"]!);
        Assert.Equal(2, config.Monitors.Count);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite, config.Monitors[0].Mode);
        Assert.False(config.Monitors[0].Pretty);
        Assert.Null(config.Monitors[1].Mode);
        Assert.True(config.Monitors[1].Pretty);
        Assert.Equal(12, config.Monitors[1].Line);
    }

    [Fact]
    public void An_empty_section_is_valid()
    {
        var config = Parse("""{"Blockd": {}}""");

        Assert.Empty(config.Blockdevs);
        Assert.Null(config.NbdServer);
        Assert.Empty(config.Monitors);
    }

    [Theory]
    [InlineData("{\n  \"Blockd\": {\n    \"Monitors\": [ { \"Path\": \"/s\" } \n    \"Blockdevs\": []\n  }\n}",
        "blockd: --config blockd.json:4:5: ")]
    [InlineData("{\"Blockd\": {}, \"Blockd\": {}}", "blockd: --config blockd.json:1:")]
    [InlineData("", "blockd: --config blockd.json:1:1: ")]
    public void Json_syntax_errors_name_line_and_column(string text, string prefix)
    {
        string error = ErrorOf(text);

        Assert.StartsWith(prefix, error, StringComparison.Ordinal);
        Assert.DoesNotContain("LineNumber", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("[]", "blockd: --config blockd.json:1: $: The file must hold a JSON object")]
    [InlineData("{\"blockd\": {}}", "blockd: --config blockd.json:1: $: The file has no \"Blockd\" section")]
    [InlineData("{\"Blockd\": []}", "blockd: --config blockd.json:1: Blockd: Expected an object, found an array")]
    [InlineData("{\"Blockd\": {\n\"Monitor\": []}}", "blockd: --config blockd.json:2: Blockd.Monitor: Unknown key \"Monitor\" (known: Blockdevs, NbdServer, Exports, Monitors)")]
    [InlineData("{\"Blockd\": {\"Blockdevs\": {}}}", "blockd: --config blockd.json:1: Blockd.Blockdevs: Expected an array, found an object")]
    [InlineData("{\"Blockd\": {\"Blockdevs\": [\n{},\n\"n0\"]}}", "blockd: --config blockd.json:3: Blockd.Blockdevs[1]: Expected an object of blockdev-add arguments, found a string")]
    [InlineData("{\"Blockd\": {\"NbdServer\": [1]}}", "blockd: --config blockd.json:1: Blockd.NbdServer: Expected an object of nbd-server-start arguments, found an array")]
    [InlineData("{\"Blockd\": {\"Exports\": [null]}}", "blockd: --config blockd.json:1: Blockd.Exports[0]: Expected an object of block-export-add arguments, found null")]
    [InlineData("{\"Blockd\": {\"Monitors\": [{}]}}", "blockd: --config blockd.json:1: Blockd.Monitors[0]: \"Path\" (the socket to create) is missing")]
    [InlineData("{\"Blockd\": {\"Monitors\": [{\"Path\": 5}]}}", "blockd: --config blockd.json:1: Blockd.Monitors[0].Path: Expected a string, found a number")]
    [InlineData("{\"Blockd\": {\"Monitors\": [{\"Path\": \"\"}]}}", "blockd: --config blockd.json:1: Blockd.Monitors[0].Path: The socket path is empty")]
    [InlineData("{\"Blockd\": {\"Monitors\": [{\"Path\": \"/s\", \"Pretty\": \"yes\"}]}}", "blockd: --config blockd.json:1: Blockd.Monitors[0].Pretty: Expected true or false")]
    [InlineData("{\"Blockd\": {\"Monitors\": [{\"Path\": \"/s\", \"Mode\": \"0755\"}]}}", "blockd: --config blockd.json:1: Blockd.Monitors[0].Mode: '0755' is not a socket mode: expected octal digits for read/write bits only, e.g. \"0600\" or \"0660\"")]
    [InlineData("{\"Blockd\": {\"Monitors\": [{\"Path\": \"/s\", \"Mode\": 660}]}}", "blockd: --config blockd.json:1: Blockd.Monitors[0].Mode: Expected a string, found a number")]
    [InlineData("{\"Blockd\": {\"Monitors\": [{\"Path\": \"/s\", \"path\": \"/t\"}]}}", "blockd: --config blockd.json:1: Blockd.Monitors[0].path: Unknown key \"path\" (known: Path, Pretty, Mode)")]
    [InlineData("{\"Blockd\": {\"Monitors\": [\n{\"Path\": \"/s\"},\n{\"Path\": \"/s\"}]}}", "blockd: --config blockd.json:3: Blockd.Monitors[1]: Socket path '/s' is already used by Blockd.Monitors[0]")]
    public void Structure_errors_name_line_and_json_path(string text, string expected)
    {
        Assert.Equal(expected, ErrorOf(text));
    }

    [Fact]
    public void A_missing_file_is_reported_with_its_name()
    {
        using var dir = new TempDirectory();

        string error = Assert.Throws<StartupException>(() => ConfigFile.Load(dir["absent.json"])).Format();

        Assert.StartsWith($"blockd: --config {dir["absent.json"]}: Could not find file", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Daemon_applies_nodes_nbd_server_exports_and_monitors_from_the_file()
    {
        using var dir = new TempDirectory();
        string qmp = dir["qmp.sock"];
        string config = dir["blockd.json"];
        await File.WriteAllTextAsync(config, $$"""
            {
              "Blockd": {
                "Blockdevs": [
                  { "driver": "null-co", "node-name": "n0", "size": 1048576, "read-zeroes": true },
                  { "driver": "raw", "node-name": "disk0", "file": "n0" },
                ],
                "NbdServer": { "addr": { "type": "unix", "path": "{{dir["nbd.sock"]}}" } },
                "Exports": [ { "type": "nbd", "id": "e0", "node-name": "disk0", "name": "disk0" } ],
                "Monitors": [ { "Path": "{{qmp}}", "Mode": "0660" } ],
              }
            }
            """, TestContext.Current.CancellationToken);
        using var process = Blockd.Start(["--config", config]);
        try
        {
            using var client = await UnixQmpClient.ConnectAsync(qmp);
            await client.NegotiateAsync();
            var exports = await client.CommandAsync("""{"execute": "query-block-exports"}""");

            var export = Assert.Single(exports["return"]!.AsArray());
            Assert.Equal("e0", (string)export!["id"]!);
            Assert.Equal("disk0", (string)export["node-name"]!);
            Assert.True(File.Exists(dir["nbd.sock"]), "The NBD server's socket is missing");
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite, File.GetUnixFileMode(qmp));

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
    public async Task Daemon_reports_a_schema_error_with_the_line_of_the_entry_and_serves_nothing()
    {
        using var dir = new TempDirectory();
        string config = dir["bad.json"];
        await File.WriteAllTextAsync(config, $$"""
            {"Blockd": {
              "Monitors": [ { "Path": "{{dir["qmp.sock"]}}" } ],
              "Blockdevs": [
                { "driver": "null-co", "node-name": "n0" },
                { "driver": "raw", "node-name": "r0" }
              ]
            } }
            """, TestContext.Current.CancellationToken);

        var (exitCode, _, stderr) = await Blockd.RunAsync("--config", config);

        Assert.Equal(1, exitCode);
        Assert.Equal($"blockd: --config {config}:5: Blockd.Blockdevs[1]: Parameter 'file' is missing\n", stderr);
        Assert.False(File.Exists(dir["qmp.sock"]), "A monitor was created although start-up failed");
    }

    [Fact]
    public async Task Daemon_refuses_an_export_without_an_nbd_server()
    {
        using var dir = new TempDirectory();
        string config = dir["bad.json"];
        await File.WriteAllTextAsync(config, """
            {"Blockd": {
              "Blockdevs": [ { "driver": "null-co", "node-name": "n0" } ],
              "Exports": [ { "type": "nbd", "id": "e0", "node-name": "n0" } ]
            }}
            """, TestContext.Current.CancellationToken);

        var (exitCode, _, stderr) = await Blockd.RunAsync("--config", config);

        Assert.Equal(1, exitCode);
        Assert.StartsWith($"blockd: --config {config}:3: Blockd.Exports[0]: ", stderr, StringComparison.Ordinal);
    }
}
