using BlockDaemon.CommandLine;
using BlockDaemon.Core.Drivers.Blkdebug;
using BlockDaemon.Core.Drivers.File;
using BlockDaemon.Core.Drivers.Null;
using BlockDaemon.Core.Drivers.Raw;
using BlockDaemon.Core.Events;
using BlockDaemon.Core.Graph;
using BlockDaemon.Nbd.Client;
using BlockDaemon.Qcow2;
using BlockDaemon.Qmp.Commands;
using BlockDaemon.Qmp.Schema;
using BlockDaemon.Qmp.Server;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace BlockDaemon;

internal static class Program
{
    private static async Task<int> Main(string[] args)
    {
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
        using var host = BuildHost();
        await host.StartAsync().ConfigureAwait(false);
        var server = host.Services.GetRequiredService<QmpServer>();
        string? pidFile = commandLine.PidFile;
        try
        {
            var executor = new OptionExecutor(server, Console.Out);
            if (commandLine.ConfigFile is { } config)
            {
                await ConfigFile.ApplyAsync(config, executor, server).ConfigureAwait(false);
            }
            await executor.ExecuteAsync(commandLine.Options).ConfigureAwait(false);
            if (executor.ExitCode is { } exitCode)
            {
                await host.StopAsync().ConfigureAwait(false);
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
            await host.StopAsync().ConfigureAwait(false);
            return 1;
        }
        catch (CommandLineException e)
        {
            Console.Error.Write(e.Format("blockd"));
            await host.StopAsync().ConfigureAwait(false);
            return 1;
        }
        if (Daemonizer.IsChild)
        {
            Daemonizer.SignalReady();
        }
        await host.WaitForShutdownAsync().ConfigureAwait(false);
        if (pidFile is not null)
        {
            File.Delete(pidFile);
        }
        return 0;
    }

    private static IHost BuildHost()
    {
        // No default configuration sources: qsd's arguments are not configuration keys.
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.ClearProviders();
        builder.Logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        builder.Logging.SetMinimumLevel(Enum.TryParse<LogLevel>(Environment.GetEnvironmentVariable("BLOCKD_LOG_LEVEL"), true, out var level)
            ? level : LogLevel.Warning);
        builder.Services.Configure<ConsoleLifetimeOptions>(o => o.SuppressStatusMessages = true);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(30));
        builder.Services.AddSingleton<EventBus>();
        builder.Services.AddSingleton<ControlLoop>();
        builder.Services.AddSingleton(_ => QmpSchema.LoadEmbedded());
        builder.Services.AddSingleton(sp =>
        {
            var registry = CommandRegistry.CreateDefault();
            registry.VerifyAgainst(sp.GetRequiredService<QmpSchema>());
            return registry;
        });
        builder.Services.AddSingleton<IDaemonControl, DaemonControl>();
        builder.Services.AddSingleton<IBlockEventSink, BlockEventForwarder>();
        builder.Services.AddSingleton(sp =>
        {
            var graph = new BlockGraph { Events = sp.GetRequiredService<IBlockEventSink>() };
            graph.RegisterDriver(new FileDriverFactory());
            graph.RegisterDriver(new NullDriverFactory());
            graph.RegisterDriver(new RawDriverFactory());
            graph.RegisterDriver(new Qcow2DriverFactory());
            // tls-creds name --object tls-creds-x509 objects, which live with the QMP server's exports.
            graph.RegisterDriver(new NbdClientDriverFactory(id => sp.GetRequiredService<QmpServer>().Exports.TlsCredentials.GetValueOrDefault(id)));
            graph.RegisterDriver(new BlkdebugDriverFactory());
            return graph;
        });
        builder.Services.AddSingleton<QmpServer>();
        builder.Services.AddHostedService<DaemonService>();
        return builder.Build();
    }
}
