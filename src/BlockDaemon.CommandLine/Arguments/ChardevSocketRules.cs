using System.Globalization;
using BlockDaemon.CommandLine.QemuOpts;

namespace BlockDaemon.CommandLine.Arguments;

/// <summary>
/// The socket backend's option rules that qsd checks before opening anything (chardev/char-socket.c:
/// parse, then validate, then the file-descriptor lookup for fd addresses). The address is a unix
/// socket with <c>path</c>, TCP with <c>host</c>+<c>port</c>, else an inherited <c>fd</c>.
/// Whether the socket can then be bound or connected is for the host to find out.
/// </summary>
internal static class ChardevSocketRules
{
    public static void Validate(QemuOptsResult options)
    {
        string? path = options.Find("path")?.Text;
        string? host = options.Find("host")?.Text;
        string? fd = options.Find("fd")?.Text;
        if ((path is null ? 0 : 1) + (host is null ? 0 : 1) + (fd is null ? 0 : 1) > 1)
        {
            OptionSyntaxException.Throw("None or one of 'path', 'fd' or 'host' option required.");
        }

        if (host is not null && options.Find("port") is null)
        {
            OptionSyntaxException.Throw("chardev: socket: no port given");
        }

        if (options.Find("delay") is not null && options.Find("nodelay") is not null)
        {
            OptionSyntaxException.Throw("'delay' and 'nodelay' are mutually exclusive");
        }

        bool isFd = path is null && host is null;
        bool server = options.Find("server")?.Value is true;
        bool hasReconnect = options.Find("reconnect") is not null;
        if (isFd && hasReconnect)
        {
            OptionSyntaxException.Throw("'reconnect' option is incompatible with 'fd' address type");
        }

        if (options.Find("tls-authz") is not null && options.Find("tls-creds") is null)
        {
            OptionSyntaxException.Throw("'tls_authz' option requires 'tls_creds' option");
        }

        if (server && hasReconnect)
        {
            OptionSyntaxException.Throw("'reconnect' option is incompatible with socket in server listen mode");
        }

        if (!server && options.Find("websocket")?.Value is true)
        {
            OptionSyntaxException.Throw("Websocket client is not implemented");
        }

        if (!server && options.Find("wait") is not null)
        {
            OptionSyntaxException.Throw("'wait' option is incompatible with socket in client connect mode");
        }

        // Without path or host qsd takes the socket from a file descriptor, which must be a
        // number on the command line; with nothing at all it reports an empty number.
        if (isFd && !IsFileDescriptorNumber(fd))
        {
            OptionSyntaxException.Throw($"Unable to parse FD number {fd}");
        }
    }

    private static bool IsFileDescriptorNumber(string? fd) =>
        fd is not null &&
        int.TryParse(fd, NumberStyles.AllowLeadingWhite | NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int number) &&
        number >= 0;
}
