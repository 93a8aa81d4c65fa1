using System.Text.Json.Nodes;
using BlockDaemon.Ctl.Arguments;
using BlockDaemon.Ctl.Output;
using BlockDaemon.Ctl.Qmp;
using BlockDaemon.QemuJson;

namespace BlockDaemon.Ctl.Cli;

/// <summary>
/// Any QMP command: `blockctl COMMAND [key=value ...]` or `blockctl COMMAND '{JSON object}'`.
/// The reply is printed readably (or as the raw message with --json); an error reply goes to
/// stderr with its class and makes the exit status 1.
/// </summary>
internal static class RawCommand
{
    public static async Task<int> RunAsync(CtlSession session, string command, IReadOnlyList<string> words, CancellationToken ct)
    {
        CheckName(command);
        var arguments = await BuildArgumentsAsync(session, command, words, ct).ConfigureAwait(false);
        return await ExecuteAndPrintAsync(session, command, arguments, ct).ConfigureAwait(false);
    }

    /// <summary>A QMP command name is letters, digits, '-' and '_'; anything else is a typo, not a command.</summary>
    public static void CheckName(string command)
    {
        if (command.Length == 0 || !command.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
        {
            throw new UsageException($"'{command}' is not a command name (see blockctl --help)");
        }
    }

    /// <summary>Words after the command: nothing, one JSON object, or key=value / key:=JSON words typed by the schema.</summary>
    public static async Task<JsonObject?> BuildArgumentsAsync(CtlSession session, string command, IReadOnlyList<string> words, CancellationToken ct)
    {
        if (words.Count == 0)
        {
            return null;
        }
        if (words.Count == 1 && words[0].TrimStart().StartsWith('{'))
        {
            try
            {
                return QemuJsonReader.Read(words[0]) as JsonObject ?? throw new UsageException("The arguments must be a JSON object");
            }
            catch (QemuJsonException e)
            {
                throw new UsageException("The arguments are not valid JSON: " + e.Message, e);
            }
        }
        var tree = DottedArguments.Parse(words);
        var schema = await session.SchemaAsync(ct).ConfigureAwait(false);
        return new SchemaTyping(schema).Arguments(command, tree);
    }

    /// <summary>Sends the command and prints what came back; returns the exit status.</summary>
    public static async Task<int> ExecuteAndPrintAsync(CtlSession session, string command, JsonObject? arguments, CancellationToken ct)
    {
        var client = await session.ClientAsync(ct).ConfigureAwait(false);
        var reply = await client.SendAsync(command, arguments, ct).ConfigureAwait(false);
        return await PrintReplyAsync(session, command, reply).ConfigureAwait(false);
    }

    public static async Task<int> PrintReplyAsync(CtlSession session, string command, JsonObject reply)
    {
        var console = session.Console;
        if (session.Options.Json)
        {
            await console.Out.WriteLineAsync(JsonText.Compact(reply)).ConfigureAwait(false);
            return reply.ContainsKey("error") ? ExitCodes.CommandFailed : ExitCodes.Success;
        }
        if (reply["error"] is JsonObject error)
        {
            await console.Error.WriteLineAsync(FormatError(command, error)).ConfigureAwait(false);
            return ExitCodes.CommandFailed;
        }
        await console.Out.WriteAsync(ReadablePrinter.Format(reply["return"])).ConfigureAwait(false);
        return ExitCodes.Success;
    }

    public static string FormatError(string command, JsonObject error)
    {
        string? errorClass = error["class"] is JsonValue c && c.TryGetValue(out string? cls) ? cls : null;
        string? desc = error["desc"] is JsonValue d && d.TryGetValue(out string? text) ? text : JsonText.Compact(error);
        return $"blockctl: {command}: {desc} ({errorClass ?? "GenericError"})";
    }

    public static string FormatError(QmpCommandException e) => $"blockctl: {e.Command}: {e.Description} ({e.ErrorClass})";
}
