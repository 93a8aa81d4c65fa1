namespace BlockDaemon.Nbd.Server;

/// <summary>Where a connection is in the fixed newstyle handshake.</summary>
internal enum NbdHandshakeState
{
    /// <summary>Greeting sent; waiting for the client's flags.</summary>
    AwaitingClientFlags,
    /// <summary>Reading options until EXPORT_NAME, GO or ABORT.</summary>
    Negotiating,
    /// <summary>An export was chosen; requests follow.</summary>
    Transmission,
    /// <summary>The client aborted; the connection closes.</summary>
    Aborted,
}
