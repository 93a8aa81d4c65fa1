using BlockDaemon.Core.Errors;

namespace BlockDaemon.Qmp.Commands;

/// <summary>The one place block-layer errors become QMP errors (qsd reports nearly all as GenericError).</summary>
public static class QmpErrors
{
    public static QmpException From(BlockException e) => new(QmpErrorClass.GenericError, e.Message);

    /// <summary>What QEMU puts after "...: " in a message built around a failed call: the errno's text when there is one.</summary>
    public static string Reason(BlockException e) => e.Errno != 0 ? Errno.Text(e.Errno) : e.Message;
}
