using BlockDaemon.CommandLine;
using Xunit;

namespace BlockDaemon.CommandLine.Tests;

/// <summary>Helpers phrased the way qsd is observed: what it prints, what it runs.</summary>
internal static class Qsd
{
    public const string Program = "qemu-storage-daemon";

    /// <summary>Parses and returns the failure; asserts there is one.</summary>
    public static CommandLineException Fails(params string[] args) =>
        Assert.Throws<CommandLineException>(() => DaemonCommandLine.Parse(args));

    /// <summary>The stderr text qsd prints for <paramref name="args"/> (as our host would, under qsd's name).</summary>
    public static string Stderr(params string[] args) => Fails(args).Format(Program);

    /// <summary>Parses a command line expected to run and returns its single option.</summary>
    public static T Single<T>(params string[] args)
        where T : DaemonOption
    {
        DaemonCommandLine line = DaemonCommandLine.Parse(args);
        Assert.Equal(CommandLineAction.Run, line.Action);
        return Assert.IsType<T>(Assert.Single(line.Options));
    }
}
