using System.Text.Json.Nodes;
using BlockDaemon.QemuJson;
using BlockDaemon.CommandLine.Keyval;

namespace BlockDaemon.CommandLine.Arguments;

/// <summary>
/// The argument forms of qsd's QAPI-typed options (qobject_input_visitor_new_str): an argument
/// whose very first character is '{' is JSON and keeps its types; anything else (even " {")
/// is keyval with string leaves.
/// </summary>
internal static class QapiArgument
{
    public static JsonObject Parse(string argument, string? impliedKey, bool helpAllowed, out bool fromKeyval, out bool help)
    {
        help = false;
        fromKeyval = !argument.StartsWith('{');
        if (fromKeyval)
        {
            return KeyvalParser.Parse(argument, impliedKey, helpAllowed, out help);
        }

        // The lexer sees '{' first, so a successfully read value is always an object.
        try
        {
            return (JsonObject)QemuJsonReader.Read(argument)!;
        }
        catch (QemuJsonException e)
        {
            throw new OptionSyntaxException(e.Message);
        }
    }
}
