using BlockDaemon.CommandLine;
using BlockDaemon.Qmp.Server;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace BlockDaemon;

internal static class Program
{
    private static async Task<int> Main(string[] args)
    {
        if (args.Length > 0 && args[0] == HealthCheck.Option)
        {
            return await HealthCheck.RunAsync(args, Console.Out, Console.Error).ConfigureAwait(false);
        }
        DaemonCommandLine commandLine;
        try
        {
            commandLine = DaemonCommandLine.Parse(args, deferOptionErrors: true);
        }
        catch (CommandLineException e)
        {
            Console.Error.Write(e.Format("blockd"));
            return 1;
        }
        switch (commandLine.Action)
        {
            case CommandLineAction.Help:
                Console.Out.Write(HelpText.Render("blockd"));
                return 0;
            case CommandLineAction.Version:
                Console.Out.WriteLine($"blockd version {DaemonControl.ProductVersion} (QMP compatible with qemu-storage-daemon 7.2)");
                return 0;
        }
        if (commandLine.Daemonize && !Daemonizer.IsChild)
        {
            return await Daemonizer.RunParentAsync(args).ConfigureAwait(false);
        }
        if (Daemonizer.IsChild)
        {
            Daemonizer.DetachSession();
        }
        return await RunAsync(commandLine, useDefaultMonitor: args.Length == 0).ConfigureAwait(false);
    }

    private static async Task<int> RunAsync(DaemonCommandLine commandLine, bool useDefaultMonitor)
    {
        var host = DaemonServices.BuildHost(StderrLoggerProvider.LevelFromEnvironment());
        // The host disposes the QMP server, which can only be disposed asynchronously.
        await using var hostDisposal = (IAsyncDisposable)host;
        await host.StartAsync().ConfigureAwait(false);
        if (await ApplyOptionsAsync(host.Services.GetRequiredService<QmpServer>(), commandLine, useDefaultMonitor).ConfigureAwait(false) is { } exitCode)
        {
            await host.StopAsync().ConfigureAwait(false);
            return exitCode;
        }
        if (Daemonizer.IsChild)
        {
            Daemonizer.SignalReady();
        }
        host.Services.GetRequiredService<DaemonHost>().AnnounceReady();
        await host.WaitForShutdownAsync().ConfigureAwait(false);
        if (commandLine.PidFile is { } pidFile)
        {
            File.Delete(pidFile);
        }
        return 0;
    }

    /// <summary>
    /// In qsd's order: --config entries and options applied, monitors accepting, pid file
    /// written. Returns the exit code if the daemon must not go on running.
    /// </summary>
    private static async Task<int?> ApplyOptionsAsync(QmpServer server, DaemonCommandLine commandLine, bool useDefaultMonitor)
    {
        try
        {
            var executor = new OptionExecutor(server, Console.Out);
            if (commandLine.ConfigFile is { } configPath)
            {
                await ConfigFile.Load(configPath).ApplyAsync(executor, server).ConfigureAwait(false);
            }
            await executor.ExecuteAsync(commandLine.Options).ConfigureAwait(false);
            if (executor.ExitCode is { } exitCode)
            {
                return exitCode;
            }
            if (useDefaultMonitor)
            {
                string path = DefaultSocket.Path();
                server.Listen(path, pretty: false, UnixFileMode.UserRead | UnixFileMode.UserWrite);
                Console.Error.WriteLine($"blockd: QMP monitor listening on {path}");
            }
            server.Start();
            if (commandLine.PidFile is { } pidFile)
            {
                await File.WriteAllTextAsync(pidFile, Environment.ProcessId + "\n").ConfigureAwait(false);
            }
            return null;
        }
        catch (StartupException e)
        {
            Console.Error.WriteLine(e.Format());
            return 1;
        }
        catch (CommandLineException e)
        {
            Console.Error.Write(e.Format("blockd"));
            return 1;
        }
    }
}
