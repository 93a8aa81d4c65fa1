using BlockDaemon.Core.Errors;

namespace BlockDaemon.Qmp.Commands;

/// <summary>The one place block-layer errors become QMP errors (qsd reports nearly all as GenericError).</summary>
public static class QmpErrors
{
    public static QmpException From(BlockException e) => new(QmpErrorClass.GenericError, e.Message);
}
