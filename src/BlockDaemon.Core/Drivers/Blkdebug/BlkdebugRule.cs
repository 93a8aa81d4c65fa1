using BlockDaemon.Core.Io;

namespace BlockDaemon.Core.Drivers.Blkdebug;

/// <summary>
/// One rule of a blkdebug node: on <see cref="Event"/>, while the node is in
/// <see cref="State"/> (0: any state), either arm an error (inject-error) or move to
/// <see cref="NewState"/> (set-state).
/// </summary>
public sealed record BlkdebugRule
{
    public required DebugEvent Event { get; init; }

    /// <summary>The state the rule applies in; 0 means every state.</summary>
    public long State { get; init; }

    /// <summary>Set for set-state rules, null for inject-error rules.</summary>
    public long? NewState { get; init; }

    /// <summary>The errno an armed error returns (0: the rule arms but never fails a request).</summary>
    public int Errno { get; init; } = Errors.Errno.EIo;

    /// <summary>Byte offset a request must cover to fail, or -1 for any request.</summary>
    public long Offset { get; init; } = -1;

    public BlkdebugIoType IoTypes { get; init; } = BlkdebugIoType.Default;

    /// <summary>The rule is removed after it failed one request.</summary>
    public bool Once { get; init; }

    /// <summary>Fail without first letting other work run (only timing differs).</summary>
    public bool Immediately { get; init; }

    public bool IsInjection => NewState is null;
}
