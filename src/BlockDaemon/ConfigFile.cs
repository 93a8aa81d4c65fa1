using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using BlockDaemon.Qmp.Server;

namespace BlockDaemon;

/// <summary>
/// --config FILE: blockd's own start-up description, in the appsettings.json style (comments and
/// trailing commas allowed), applied before the command-line options:
/// <code>
/// {"Blockd": {
///    "Blockdevs": [ blockdev-add arguments, ... ],          nodes, in order
///    "NbdServer": nbd-server-start arguments,                 optional
///    "Exports":   [ block-export-add arguments, ... ],      need NbdServer for type nbd
///    "Monitors":  [ {"Path": "...", "Pretty": false, "Mode": "0660"}, ... ] }}
/// </code>
/// Everything is checked before anything is applied: the structure here (unknown keys, wrong
/// types), the QMP arguments by the same schema walker as the commands they stand for. Errors
/// name the file, the line and the JSON path of the entry: "--config FILE:LINE: PATH: message".
/// </summary>
internal sealed class ConfigFile
{
    public const string Section = "Blockd";

    private static readonly string[] SectionKeys = ["Blockdevs", "NbdServer", "Exports", "Monitors"];
    private static readonly string[] MonitorKeys = ["Path", "Pretty", "Mode"];
    private const UnixFileMode MaxSocketMode = UnixFileMode.UserRead | UnixFileMode.UserWrite |
        UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.OtherRead | UnixFileMode.OtherWrite;

    private readonly string _path;
    private readonly Dictionary<string, int> _lines;

    private ConfigFile(string path, Dictionary<string, int> lines)
    {
        _path = path;
        _lines = lines;
    }

    /// <summary>A JSON object from the file that stands for a QMP command's arguments.</summary>
    public sealed record Entry(string JsonPath, int Line, JsonObject Arguments);

    /// <summary>A monitor socket; Mode null keeps the umask's mode, as --chardev does.</summary>
    public sealed record Monitor(string JsonPath, int Line, string SocketPath, bool Pretty, UnixFileMode? Mode);

    public List<Entry> Blockdevs { get; } = [];
    public Entry? NbdServer { get; private set; }
    public List<Entry> Exports { get; } = [];
    public List<Monitor> Monitors { get; } = [];

    /// <summary>Reads and checks the structure of a config file; throws <see cref="StartupException"/>.</summary>
    public static ConfigFile Load(string path)
    {
        byte[] utf8;
        try
        {
            utf8 = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new StartupException($"--config {path}", e.Message);
        }
        return Parse(path, utf8);
    }

    public static ConfigFile Parse(string path, ReadOnlySpan<byte> utf8)
    {
        var options = new JsonDocumentOptions
        {
            CommentHandling = JsonCommentHandling.Skip,
            AllowTrailingCommas = true,
            // A key given twice is a mistake in a hand-written file, not an override.
            AllowDuplicateProperties = false,
        };
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(utf8, documentOptions: options);
        }
        catch (JsonException e)
        {
            long line = (e.LineNumber ?? 0) + 1;
            long column = (e.BytePositionInLine ?? 0) + 1;
            throw new StartupException($"--config {path}:{line}:{column}", StripPosition(e.Message));
        }
        var config = new ConfigFile(path, LineMap.Build(utf8, options));
        config.Read(root);
        return config;
    }

    /// <summary>Applies the file: nodes, then the NBD server, exports and monitors.</summary>
    public async Task ApplyAsync(OptionExecutor executor, QmpServer server)
    {
        foreach (var entry in Blockdevs)
        {
            await RunAsync(entry, () => executor.AddBlockdevAsync(entry.Arguments, fromKeyval: false)).ConfigureAwait(false);
        }
        if (NbdServer is { } nbd)
        {
            await RunAsync(nbd, () => executor.StartNbdServerAsync(nbd.Arguments, fromKeyval: false)).ConfigureAwait(false);
        }
        foreach (var entry in Exports)
        {
            await RunAsync(entry, () => executor.AddExportAsync(entry.Arguments, fromKeyval: false)).ConfigureAwait(false);
        }
        foreach (var monitor in Monitors)
        {
            try
            {
                server.Listen(monitor.SocketPath, monitor.Pretty, monitor.Mode);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw Error(monitor.JsonPath, e.Message);
            }
        }
    }

    private async Task RunAsync(Entry entry, Func<Task> apply)
    {
        try
        {
            await apply().ConfigureAwait(false);
        }
        catch (Exception e) when (e is Qmp.QmpException or Core.Errors.BlockException)
        {
            throw Error(entry.JsonPath, e.Message);
        }
    }

    private void Read(JsonNode? root)
    {
        if (root is not JsonObject top)
        {
            throw Error("$", "The file must hold a JSON object");
        }
        // Other top-level sections are allowed: the file may be shared with other settings.
        if (!top.TryGetPropertyValue(Section, out var sectionNode))
        {
            throw Error("$", $"The file has no \"{Section}\" section");
        }
        var section = Expect<JsonObject>(sectionNode, Section, "an object");
        CheckKeys(section, Section, SectionKeys);
        if (section[nameof(Blockdevs)] is { } blockdevs)
        {
            ReadEntries(blockdevs, $"{Section}.Blockdevs", "blockdev-add arguments", Blockdevs);
        }
        if (section[nameof(NbdServer)] is { } nbd)
        {
            string jsonPath = $"{Section}.NbdServer";
            NbdServer = new Entry(jsonPath, LineOf(jsonPath), (JsonObject)Expect<JsonObject>(nbd, jsonPath, "an object of nbd-server-start arguments").DeepClone());
        }
        if (section[nameof(Exports)] is { } exports)
        {
            ReadEntries(exports, $"{Section}.Exports", "block-export-add arguments", Exports);
        }
        if (section[nameof(Monitors)] is { } monitors)
        {
            var array = Expect<JsonArray>(monitors, $"{Section}.Monitors", "an array");
            for (int i = 0; i < array.Count; i++)
            {
                Monitors.Add(ReadMonitor(array[i], $"{Section}.Monitors[{i}]"));
            }
        }
        var paths = Monitors.GroupBy(m => Path.GetFullPath(m.SocketPath), StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (paths is not null)
        {
            throw Error(paths.Last().JsonPath, $"Socket path '{paths.Last().SocketPath}' is already used by {paths.First().JsonPath}");
        }
    }

    private void ReadEntries(JsonNode node, string jsonPath, string what, List<Entry> into)
    {
        var array = Expect<JsonArray>(node, jsonPath, "an array");
        for (int i = 0; i < array.Count; i++)
        {
            string itemPath = $"{jsonPath}[{i}]";
            var item = Expect<JsonObject>(array[i], itemPath, $"an object of {what}");
            into.Add(new Entry(itemPath, LineOf(itemPath), (JsonObject)item.DeepClone()));
        }
    }

    private Monitor ReadMonitor(JsonNode? node, string jsonPath)
    {
        var monitor = Expect<JsonObject>(node, jsonPath, "an object");
        CheckKeys(monitor, jsonPath, MonitorKeys);
        if (!monitor.TryGetPropertyValue("Path", out var pathNode))
        {
            throw Error(jsonPath, "\"Path\" (the socket to create) is missing");
        }
        string socketPath = ExpectString(pathNode, $"{jsonPath}.Path");
        if (socketPath.Length == 0)
        {
            throw Error($"{jsonPath}.Path", "The socket path is empty");
        }
        bool pretty = false;
        if (monitor.TryGetPropertyValue("Pretty", out var prettyNode))
        {
            pretty = prettyNode?.GetValueKind() switch
            {
                JsonValueKind.True => true,
                JsonValueKind.False => false,
                _ => throw Error($"{jsonPath}.Pretty", "Expected true or false"),
            };
        }
        UnixFileMode? mode = null;
        if (monitor.TryGetPropertyValue("Mode", out var modeNode))
        {
            string text = ExpectString(modeNode, $"{jsonPath}.Mode");
            mode = ParseMode(text) ?? throw Error($"{jsonPath}.Mode",
                $"'{text}' is not a socket mode: expected octal digits for read/write bits only, e.g. \"0600\" or \"0660\"");
        }
        return new Monitor(jsonPath, LineOf(jsonPath), socketPath, pretty, mode);
    }

    // Octal, at most rw bits for user, group and others: execute and special bits mean nothing
    // on a socket and are more likely a typo than an intent.
    private static UnixFileMode? ParseMode(string text)
    {
        if (text.Length is < 3 or > 4 || !text.All(c => c is >= '0' and <= '7'))
        {
            return null;
        }
        int value = Convert.ToInt32(text, 8);
        return (value & ~(int)MaxSocketMode) != 0 ? null : (UnixFileMode)value;
    }

    private T Expect<T>(JsonNode? node, string jsonPath, string what)
        where T : JsonNode =>
        node as T ?? throw Error(jsonPath, $"Expected {what}, found {Describe(node)}");

    private string ExpectString(JsonNode? node, string jsonPath) =>
        node?.GetValueKind() == JsonValueKind.String ? node.GetValue<string>() : throw Error(jsonPath, $"Expected a string, found {Describe(node)}");

    private void CheckKeys(JsonObject obj, string jsonPath, string[] known)
    {
        foreach (var (key, _) in obj)
        {
            if (Array.IndexOf(known, key) < 0)
            {
                throw Error($"{jsonPath}.{key}", $"Unknown key \"{key}\" (known: {string.Join(", ", known)})");
            }
        }
    }

    private static string Describe(JsonNode? node) => node?.GetValueKind() switch
    {
        null or JsonValueKind.Null => "null",
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        _ => "a boolean",
    };

    private int LineOf(string jsonPath) => _lines.GetValueOrDefault(jsonPath);

    private StartupException Error(string jsonPath, string message)
    {
        int line = LineOf(jsonPath == "$" ? "" : jsonPath);
        // An unknown key's line is the line of its value.
        return new StartupException(line > 0 ? $"--config {_path}:{line}" : $"--config {_path}", $"{jsonPath}: {message}");
    }

    // System.Text.Json appends "Path: $ | LineNumber: 0 | BytePositionInLine: 5." to its
    // messages; the location is reported in the file:line:column form instead.
    private static string StripPosition(string message)
    {
        int at = message.IndexOf(" Path: ", StringComparison.Ordinal);
        if (at < 0)
        {
            at = message.IndexOf(" LineNumber: ", StringComparison.Ordinal);
        }
        return at < 0 ? message : message[..at];
    }

    /// <summary>The 1-based line where each value of the document starts, by JSON path ("Blockd.Blockdevs[1]").</summary>
    private static class LineMap
    {
        public static Dictionary<string, int> Build(ReadOnlySpan<byte> utf8, JsonDocumentOptions options)
        {
            var lines = new Dictionary<string, int>(StringComparer.Ordinal);
            var reader = new Utf8JsonReader(utf8, new JsonReaderOptions
            {
                CommentHandling = options.CommentHandling,
                AllowTrailingCommas = options.AllowTrailingCommas,
            });
            // Each open container: its path and, for arrays, the index of the next element.
            var stack = new Stack<(string Path, int NextIndex, bool IsArray)>();
            string? property = null;
            int line = 1;
            long counted = 0;
            while (reader.Read())
            {
                long start = reader.TokenStartIndex;
                line += utf8[(int)counted..(int)start].Count((byte)'\n');
                counted = start;
                if (reader.TokenType == JsonTokenType.PropertyName)
                {
                    property = reader.GetString();
                    continue;
                }
                if (reader.TokenType is JsonTokenType.EndObject or JsonTokenType.EndArray)
                {
                    stack.Pop();
                    continue;
                }
                string path = "";
                if (stack.TryPop(out var parent))
                {
                    if (parent.IsArray)
                    {
                        path = $"{parent.Path}[{parent.NextIndex.ToString(CultureInfo.InvariantCulture)}]";
                        parent.NextIndex++;
                    }
                    else
                    {
                        path = parent.Path.Length == 0 ? property! : $"{parent.Path}.{property}";
                    }
                    stack.Push(parent);
                }
                lines.TryAdd(path, line);
                if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
                {
                    stack.Push((path, 0, reader.TokenType == JsonTokenType.StartArray));
                }
            }
            return lines;
        }
    }
}
