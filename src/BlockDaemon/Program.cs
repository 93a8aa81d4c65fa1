using BlockDaemon.CommandLine;

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
        using var loggerFactory = new StderrLoggerFactory(StderrLoggerFactory.LevelFromEnvironment());
        await using var daemon = new DaemonHost(loggerFactory);
        daemon.Start();
        var server = daemon.Server;
        string? pidFile = commandLine.PidFile;
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
            if (pidFile is not null)
            {
                await File.WriteAllTextAsync(pidFile, Environment.ProcessId + "\n").ConfigureAwait(false);
            }
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
        if (Daemonizer.IsChild)
        {
            Daemonizer.SignalReady();
        }
        // Every socket listens and every option has been applied: a Type=notify unit is up.
        SystemdNotify.Notify($"READY=1\nMAINPID={Environment.ProcessId}");
        await daemon.WaitForShutdownAsync().ConfigureAwait(false);
        if (pidFile is not null)
        {
            File.Delete(pidFile);
        }
        return 0;
    }
}
