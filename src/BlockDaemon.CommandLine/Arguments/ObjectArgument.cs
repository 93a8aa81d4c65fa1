using System.Text.Json.Nodes;

namespace BlockDaemon.CommandLine.Arguments;

/// <summary>
/// --object [qom-type=]TYPE[,PROP=VALUE...], or JSON. In keyval form a "help" or "?" element
/// anywhere asks for the type list or the type's properties instead.
/// </summary>
internal static class ObjectArgument
{
    public static DaemonOption Parse(string argument)
    {
        JsonObject members = QapiArgument.Parse(argument, "qom-type", helpAllowed: true, out bool fromKeyval, out bool help);
        if (help)
        {
            string? type = members["qom-type"] is JsonValue value && value.TryGetValue(out string? text) ? text : null;
            return new ObjectHelpOption(type);
        }

        string qomType = QapiMember.Require(QapiMember.GetString(members, "qom-type", fromKeyval), "qom-type");
        members.Remove("qom-type");
        return new ObjectOption(qomType, members, fromKeyval);
    }
}
