using System.Text;
using System.Text.Json.Nodes;
using BlockDaemon.Ctl.Cli;
using BlockDaemon.Ctl.Output;
using BlockDaemon.Ctl.Qmp;
using BlockDaemon.Ctl.Schema;
using BlockDaemon.QemuJson;

namespace BlockDaemon.Ctl.Shell;

/// <summary>
/// blockctl shell: one command per line, written as on blockctl's command line
/// (`blockdev-add driver=null-co node-name=n0`), as COMMAND '{JSON}', or as a whole QMP message
/// (`{"execute": ..., "arguments": ...}`). Events that arrived are printed before each reply.
/// On a terminal it prompts and edits lines with history and completion; with piped input it
/// reads lines silently, so scripts and tests can drive it. The exit status is 1 if any command
/// failed, 3 if the connection ended.
/// </summary>
internal static class ShellCommand
{
    public static async Task<int> RunAsync(CtlSession session, IReadOnlyList<string> words, CancellationToken ct)
    {
        if (words.Count > 0)
        {
            throw new UsageException($"Unexpected argument '{words[0]}'; usage: blockctl shell [--socket PATH] [--json]");
        }
        var console = session.Console;
        var client = await session.ClientAsync(ct).ConfigureAwait(false);
        var schema = await session.SchemaAsync(ct).ConfigureAwait(false);
        History? history = null;
        LineEditor? editor = null;
        if (console.InputIsTerminal)
        {
            history = new History(History.DefaultFile(console.Environment));
            editor = new LineEditor(history, new Completer(schema).Complete);
            await console.Out.WriteLineAsync($"Connected to {session.SocketPath} ({Describe(client.Greeting)}). " +
                "Type 'help' for commands, Tab to complete, Ctrl-D to leave.").ConfigureAwait(false);
            Console.TreatControlCAsInput = true;
        }

        int status = ExitCodes.Success;
        try
        {
            while (true)
            {
                string? line = editor is not null ? editor.ReadLine("(blockctl) ") : await console.In.ReadLineAsync(ct).ConfigureAwait(false);
                if (line is null)
                {
                    break;
                }
                line = line.Trim();
                history?.Add(line);
                if (line.Length == 0 || line.StartsWith('#'))
                {
                    continue;
                }
                if (line is "exit" or "\\q")
                {
                    break;
                }
                try
                {
                    int result = await RunLineAsync(session, schema, line, ct).ConfigureAwait(false);
                    if (result != ExitCodes.Success)
                    {
                        status = ExitCodes.CommandFailed;
                    }
                }
                catch (UsageException e)
                {
                    await console.Error.WriteLineAsync("blockctl: " + e.Message).ConfigureAwait(false);
                    status = ExitCodes.CommandFailed;
                }
                await PrintEventsAsync(session, client).ConfigureAwait(false);
            }
        }
        catch (QmpConnectionException e)
        {
            await PrintEventsAsync(session, client).ConfigureAwait(false);
            await console.Error.WriteLineAsync("blockctl: " + e.Message).ConfigureAwait(false);
            return ExitCodes.ConnectionFailed;
        }
        finally
        {
            history?.Save();
            if (editor is not null)
            {
                Console.TreatControlCAsInput = false;
            }
        }
        return status;
    }

    private static async Task<int> RunLineAsync(CtlSession session, QmpSchema schema, string line, CancellationToken ct)
    {
        var console = session.Console;
        var client = await session.ClientAsync(ct).ConfigureAwait(false);
        if (line.StartsWith('{'))
        {
            JsonObject message;
            try
            {
                message = QemuJsonReader.Read(line) as JsonObject ?? throw new UsageException("A QMP message must be a JSON object");
            }
            catch (QemuJsonException e)
            {
                throw new UsageException("Not valid JSON: " + e.Message, e);
            }
            if (message["execute"] is not JsonValue execute || !execute.TryGetValue(out string? name))
            {
                throw new UsageException("A QMP message needs \"execute\": \"COMMAND\"");
            }
            var reply = await client.SendAsync(name, message["arguments"] as JsonObject, ct).ConfigureAwait(false);
            await PrintEventsAsync(session, client).ConfigureAwait(false);
            return await RawCommand.PrintReplyAsync(session, name, reply).ConfigureAwait(false);
        }

        var words = ShellTokenizer.Split(line);
        if (words[0] == "help")
        {
            await console.Out.WriteAsync(words.Count == 1 ? CommandList(schema) : CommandHelp(schema, words[1])).ConfigureAwait(false);
            return ExitCodes.Success;
        }
        if (words[0] == "events")
        {
            await PrintEventsAsync(session, client).ConfigureAwait(false);
            return ExitCodes.Success;
        }
        RawCommand.CheckName(words[0]);
        var arguments = await RawCommand.BuildArgumentsAsync(session, words[0], words.Skip(1).ToList(), ct).ConfigureAwait(false);
        var answer = await client.SendAsync(words[0], arguments, ct).ConfigureAwait(false);
        // Events sent before the reply were queued before it was delivered: print them first, in wire order.
        await PrintEventsAsync(session, client).ConfigureAwait(false);
        return await RawCommand.PrintReplyAsync(session, words[0], answer).ConfigureAwait(false);
    }

    private static async Task PrintEventsAsync(CtlSession session, QmpClient client)
    {
        while (client.Events.TryRead(out var e))
        {
            await session.Console.Out.WriteLineAsync((session.Options.Json ? "" : "event ") + EventFormatter.Format(e, session.Options.Json)).ConfigureAwait(false);
        }
    }

    private static string CommandList(QmpSchema schema)
    {
        var sb = new StringBuilder("Commands (help COMMAND shows its arguments; exit or Ctrl-D leaves):\n");
        foreach (string command in schema.Commands)
        {
            sb.Append("  ").Append(command).Append('\n');
        }
        return sb.ToString();
    }

    private static string CommandHelp(QmpSchema schema, string command)
    {
        string? argType = schema.ArgumentType(command);
        if (argType is null)
        {
            return $"The daemon has no command '{command}'\n";
        }
        var sb = new StringBuilder(command).Append('\n');
        foreach (var member in schema.Members(argType))
        {
            sb.Append("  ").Append(member.Name).Append(member.Required ? "" : " (optional)").Append(": ").Append(TypeName(schema, member.Type)).Append('\n');
        }
        foreach (var (@case, type) in schema.Variants(argType))
        {
            sb.Append("  when ").Append(schema.Tag(argType)).Append('=').Append(@case).Append(":\n");
            foreach (var member in schema.Members(type))
            {
                sb.Append("    ").Append(member.Name).Append(member.Required ? "" : " (optional)").Append(": ").Append(TypeName(schema, member.Type)).Append('\n');
            }
        }
        return sb.ToString();
    }

    private static string TypeName(QmpSchema schema, string type) => schema.MetaType(type) switch
    {
        "builtin" => schema.JsonType(type) ?? type,
        "enum" => "one of " + string.Join('|', schema.EnumValues(type)),
        "array" => "list of " + TypeName(schema, schema.ElementType(type) ?? "?"),
        "alternate" => string.Join(" or ", schema.AlternateTypes(type).Select(t => TypeName(schema, t))),
        "object" => "object",
        _ => type,
    };

    private static string Describe(JsonObject greeting)
    {
        var version = greeting["QMP"]?["version"];
        var qemu = version?["qemu"];
        return qemu is null ? "QMP" : $"QMP {qemu["major"]}.{qemu["minor"]}.{qemu["micro"]} {version?["package"]}".TrimEnd();
    }
}
