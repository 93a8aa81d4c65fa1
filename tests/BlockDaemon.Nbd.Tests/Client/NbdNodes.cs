using BlockDaemon.Core.Options;
using BlockDaemon.TestKit;

namespace BlockDaemon.Nbd.Tests.Client;

/// <summary>blockdev-add options of nbd nodes for the client tests.</summary>
internal static class NbdNodes
{
    public static OptionDict Unix(string nodeName, string socketPath, string export, params (string Key, object? Value)[] extra) =>
        Opt.Dict([("driver", "nbd"), ("node-name", nodeName),
            ("server", Opt.Dict(("type", "unix"), ("path", socketPath))), ("export", export), .. extra]);

    public static OptionDict UnixChild(string socketPath, string export) =>
        Opt.Dict(("driver", "nbd"), ("server", Opt.Dict(("type", "unix"), ("path", socketPath))), ("export", export));
}
