using BlockDaemon.Nbd.Tls;

namespace BlockDaemon.Qmp.Objects;

/// <summary>A user-creatable object (object-add, --object) with what blockd keeps of it.</summary>
public abstract record UserObject(string Id)
{
    /// <summary>The object's qom-type.</summary>
    public abstract string QomType { get; }
}

/// <summary>A secret: its bytes, decoded and decrypted.</summary>
public sealed record SecretObject(string Id, byte[] Value) : UserObject(Id)
{
    public override string QomType => "secret";
}

/// <summary>tls-creds-x509: loaded credentials, shared with the NBD server and client.</summary>
public sealed record TlsX509Object(string Id, NbdTlsCredentials Credentials) : UserObject(Id)
{
    public override string QomType => "tls-creds-x509";
}

/// <summary>tls-creds-psk: checked and kept, but not usable by blockd's TLS (no PSK suites in .NET).</summary>
public sealed record TlsPskObject(string Id, NbdTlsEndpoint Endpoint, string Directory, string Username) : UserObject(Id)
{
    public override string QomType => "tls-creds-psk";
}

/// <summary>authz-simple: the one identity it allows.</summary>
public sealed record AuthzSimpleObject(string Id, string Identity) : UserObject(Id)
{
    public override string QomType => "authz-simple";
}

/// <summary>iothread: kept only so that its id is taken, as in qsd.</summary>
public sealed record IothreadObject(string Id) : UserObject(Id)
{
    public override string QomType => "iothread";
}
