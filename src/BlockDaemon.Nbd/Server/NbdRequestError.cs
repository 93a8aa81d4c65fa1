namespace BlockDaemon.Nbd.Server;

/// <summary>A request refused before any I/O: the errno for the wire and the message for structured replies.</summary>
internal readonly record struct NbdRequestError(uint Errno, string Message);
