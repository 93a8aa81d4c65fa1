namespace BlockDaemon;

/// <summary>What `--object help` and `--object TYPE,help` print: qsd's texts, for the types blockd has.</summary>
internal static class ObjectHelp
{
    // Option lists as qsd 7.2 prints them (sorted by name; deprecated properties left out).
    private static readonly Dictionary<string, string[]> Options = new(StringComparer.Ordinal)
    {
        ["authz-simple"] = ["identity=<string>"],
        ["iothread"] = ["aio-max-batch=<int>", "poll-grow=<int>", "poll-max-ns=<int>", "poll-shrink=<int>", "thread-pool-max=<int>", "thread-pool-min=<int>"],
        ["secret"] = ["data=<string>", "file=<string>", "format=<QCryptoSecretFormat>", "iv=<string>", "keyid=<string>"],
        ["tls-creds-psk"] = ["dir=<string>", "endpoint=<QCryptoTLSCredsEndpoint>", "priority=<string>", "username=<string>", "verify-peer=<bool>"],
        ["tls-creds-x509"] = ["dir=<string>", "endpoint=<QCryptoTLSCredsEndpoint>", "passwordid=<string>", "priority=<string>", "sanity-check=<bool>", "verify-peer=<bool>"],
    };

    /// <summary>The options of <paramref name="qomType"/>, or the list of types when blockd has no such type (or none was named).</summary>
    public static string For(string? qomType) =>
        qomType is not null && Options.TryGetValue(qomType, out var options)
            ? $"{qomType} options:\n" + string.Join('\n', options.Select(o => "  " + o))
            : "List of user creatable objects:\n" + string.Join('\n', Options.Keys.Order(StringComparer.Ordinal).Select(t => "  " + t));
}
