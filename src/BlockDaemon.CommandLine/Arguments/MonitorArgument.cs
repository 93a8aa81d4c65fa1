using System.Text.Json.Nodes;

namespace BlockDaemon.CommandLine.Arguments;

/// <summary>
/// --monitor [chardev=]NAME[,mode=readline|control][,pretty=on|off][,id=ID], or the same as JSON.
/// Members are checked in schema order (id, mode, pretty, chardev), then unknown members.
/// </summary>
internal static class MonitorArgument
{
    private static readonly string[] Known = ["id", "mode", "pretty", "chardev"];

    public static MonitorOption Parse(string argument)
    {
        JsonObject members = QapiArgument.Parse(argument, "chardev", helpAllowed: false, out bool fromKeyval, out _);
        string? id = QapiMember.GetString(members, "id", fromKeyval);
        string? mode = QapiMember.GetString(members, "mode", fromKeyval);
        if (mode is not null and not ("readline" or "control"))
        {
            OptionSyntaxException.Throw($"Parameter 'mode' does not accept value '{mode}'");
        }

        bool pretty = QapiMember.GetBool(members, "pretty", fromKeyval) ?? false;
        string chardev = QapiMember.Require(QapiMember.GetString(members, "chardev", fromKeyval), "chardev");
        QapiMember.RejectUnexpected(members, Known);

        // qsd has no HMP, so its default mode is control.
        return new MonitorOption(chardev, mode ?? "control", pretty, id);
    }
}
