namespace BlockDaemon.Nbd.Server;

/// <summary>Per-server limits.</summary>
public sealed record NbdServerOptions
{
    /// <summary>A client that has not finished the handshake by then is dropped (qemu-nbd: 10 s).</summary>
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Requests handled concurrently per connection (qemu's NBD_MAX_REQUESTS); more wait unread.</summary>
    public int MaxRequestsInFlight { get; init; } = 16;

    /// <summary>Clients connected at once (0: no limit); at the limit the server stops accepting, as qemu does.</summary>
    public int MaxConnections { get; init; }

    /// <summary>When set, clients must upgrade with NBD_OPT_STARTTLS before any other option (qemu's tls-creds).</summary>
    public Tls.NbdTlsCredentials? Tls { get; init; }

    /// <summary>
    /// With TLS, asked once a client's TLS handshake ends with its certificate (qemu's tls-authz):
    /// null lets the client in, a reason drops the connection.
    /// </summary>
    public Func<System.Security.Cryptography.X509Certificates.X509Certificate?, string?>? Authorize { get; init; }
}
