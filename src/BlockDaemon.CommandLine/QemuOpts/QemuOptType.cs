namespace BlockDaemon.CommandLine.QemuOpts;

/// <summary>Value types of a QemuOpts option; the names are what qsd's help listings show.</summary>
internal enum QemuOptType
{
    String,
    Bool,
    Number,
    Size,
}
