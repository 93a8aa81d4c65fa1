using BlockDaemon.CommandLine.QemuOpts;

namespace BlockDaemon.CommandLine.Arguments;

/// <summary>-T/--trace [enable=]PATTERN[,events=FILE][,file=FILE] in QemuOpts syntax.</summary>
internal static class TraceArgument
{
    public static DaemonOption Parse(string argument, List<(string Message, string Hint)> warnings)
    {
        QemuOptsResult result = QemuOptsParser.Parse(QemuOptsList.Trace, argument, warnings);
        if (result.HelpRequested)
        {
            return new PrintHelpOption(QemuOptsList.Trace.RenderHelp(), ExitCode: 1);
        }

        return new TraceOption(argument, result.Find("enable")?.Text, result.Find("events")?.Text, result.Find("file")?.Text);
    }
}
