using BlockDaemon.Nbd.Protocol;

namespace BlockDaemon.Nbd.Server;

/// <summary>
/// The checks every request passes before it reaches the block layer, in qemu's order and with
/// its errnos: unknown type and flags EINVAL, oversized payloads EINVAL, past the end ENOSPC for
/// writes and EINVAL otherwise, writes to a read-only export EPERM.
/// </summary>
internal static class NbdRequestValidator
{
    public static NbdRequestError? Validate(in NbdRequest request, NbdSession session)
    {
        var command = request.Command;
        if (command is < NbdCommand.Read or > NbdCommand.BlockStatus or NbdCommand.Disconnect)
        {
            return new(NbdErrno.EInval, $"Invalid request type ({request.Type}) received");
        }
        var valid = NbdCommandFlags.Fua | command switch
        {
            NbdCommand.Read when session.StructuredReplies => NbdCommandFlags.DontFragment,
            NbdCommand.WriteZeroes => NbdCommandFlags.NoHole | NbdCommandFlags.FastZero,
            NbdCommand.BlockStatus => NbdCommandFlags.ReqOne,
            _ => NbdCommandFlags.None,
        };
        if ((request.Flags & ~valid) != 0)
        {
            return new(NbdErrno.EInval, $"Unsupported flags 0x{(ushort)request.Flags:x} for command {command}");
        }
        if (command is NbdCommand.Read or NbdCommand.Write or NbdCommand.Cache && request.Length > NbdLimits.MaxPayload)
        {
            return new(NbdErrno.EInval, $"Length {request.Length} is larger than the maximum of {NbdLimits.MaxPayload}");
        }
        ulong size = (ulong)session.Export.Child.Length;
        if (command != NbdCommand.Flush && (request.Offset > size || request.Length > size - request.Offset))
        {
            return new(command is NbdCommand.Write or NbdCommand.WriteZeroes ? NbdErrno.ENoSpc : NbdErrno.EInval,
                $"Operation past the end of export '{session.Export.Name}': offset {request.Offset}, length {request.Length}, size {size}");
        }
        if (!session.Export.Writable && command is NbdCommand.Write or NbdCommand.Trim or NbdCommand.WriteZeroes)
        {
            return new(NbdErrno.EPerm, $"Export '{session.Export.Name}' is read-only");
        }
        if (command == NbdCommand.BlockStatus)
        {
            if (!session.AnyMetaContext)
            {
                return new(NbdErrno.EInval, "NBD_CMD_BLOCK_STATUS without a negotiated meta context");
            }
            if (request.Length == 0)
            {
                return new(NbdErrno.EInval, "NBD_CMD_BLOCK_STATUS needs a non-zero length");
            }
        }
        return null;
    }
}
