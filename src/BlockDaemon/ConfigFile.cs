using System.Text.Json;
using System.Text.Json.Nodes;

namespace BlockDaemon;

/// <summary>
/// --config FILE: an appsettings-style JSON file describing monitors and nodes, applied before
/// the command-line options: {"Blockd": {"Monitors": [{"Path": "...", "Pretty": false}],
/// "Blockdevs": [ blockdev-add options, ... ]}}.
/// </summary>
internal static class ConfigFile
{
    public static async Task ApplyAsync(string path, OptionExecutor executor, Qmp.Server.QmpServer server)
    {
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(await File.ReadAllTextAsync(path).ConfigureAwait(false),
                documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException)
        {
            throw new StartupException($"--config {path}", e.Message);
        }
        if (root?["Blockd"] is not JsonObject blockd)
        {
            throw new StartupException($"--config {path}", "The file has no \"Blockd\" section");
        }
        if (blockd["Blockdevs"] is JsonArray blockdevs)
        {
            foreach (var entry in blockdevs)
            {
                if (entry is not JsonObject options)
                {
                    throw new StartupException($"--config {path}", "Each entry of \"Blockdevs\" must be an object of blockdev-add options");
                }
                try
                {
                    await executor.AddBlockdevAsync((JsonObject)options.DeepClone(), fromKeyval: false).ConfigureAwait(false);
                }
                catch (Exception e) when (e is Qmp.QmpException or Core.Errors.BlockException)
                {
                    throw new StartupException($"--config {path}: Blockdevs", e.Message);
                }
            }
        }
        if (blockd["Monitors"] is JsonArray monitors)
        {
            foreach (var monitor in monitors)
            {
                string? socketPath = monitor?["Path"]?.GetValue<string>();
                if (socketPath is null)
                {
                    throw new StartupException($"--config {path}", "Each entry of \"Monitors\" needs a \"Path\"");
                }
                try
                {
                    server.Listen(socketPath, monitor?["Pretty"]?.GetValue<bool>() ?? false);
                }
                catch (IOException e)
                {
                    throw new StartupException($"--config {path}", e.Message);
                }
            }
        }
    }
}
