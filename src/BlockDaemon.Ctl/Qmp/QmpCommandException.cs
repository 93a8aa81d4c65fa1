using System.Text.Json.Nodes;

namespace BlockDaemon.Ctl.Qmp;

/// <summary>The daemon answered a command with an error reply: its class (GenericError, CommandNotFound, ...) and text.</summary>
public sealed class QmpCommandException : Exception
{
    public QmpCommandException(string command, string errorClass, string description, JsonObject reply)
        : base(description)
    {
        Command = command;
        ErrorClass = errorClass;
        Description = description;
        Reply = reply;
    }

    public QmpCommandException()
        : this("", "GenericError", "", [])
    {
    }

    public QmpCommandException(string message)
        : this("", "GenericError", message, [])
    {
    }

    public QmpCommandException(string message, Exception innerException)
        : base(message, innerException)
    {
        Command = "";
        ErrorClass = "GenericError";
        Description = message;
        Reply = [];
    }

    public string Command { get; }

    public string ErrorClass { get; }

    public string Description { get; }

    /// <summary>The whole reply message, for --json output.</summary>
    public JsonObject Reply { get; }
}
