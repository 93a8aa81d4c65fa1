using BlockDaemon.Core.Drivers.Blkdebug;
using BlockDaemon.Core.Drivers.File;
using BlockDaemon.Core.Drivers.Null;
using BlockDaemon.Core.Drivers.Raw;
using BlockDaemon.Core.Graph;
using BlockDaemon.Nbd.Client;
using BlockDaemon.Qcow2;
using BlockDaemon.Qmp.Commands;
using BlockDaemon.Qmp.Schema;
using BlockDaemon.Qmp.Server;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Hosting.Internal;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace BlockDaemon;

/// <summary>
/// Builds blockd's generic host, kept lean for a Native AOT start-up within reach of
/// qemu-storage-daemon's: no configuration sources (qsd's arguments are not configuration keys),
/// no console logger (its queue thread), no build-time validation of the service graph (it is
/// fixed, and every process test resolves all of it), and every service the daemon resolves
/// registered as a closed type with a factory. The container resolves open generics (ILogger&lt;T&gt;,
/// IOptions&lt;T&gt;) and constructors by reflection, which Native AOT pays for by building the
/// generic types at run time: most of the host's start-up cost when left to it.
/// </summary>
internal static class DaemonServices
{
    // How long the ordered shutdown may take before it is abandoned.
    private static readonly TimeSpan ShutdownTimeout = TimeSpan.FromSeconds(30);

    public static IHost BuildHost(LogLevel minimumLevel)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        var services = builder.Services;
        var stderr = new StderrLoggerProvider(minimumLevel);
        services.AddSingleton<ILoggerProvider>(stderr);
        // Replace the registrations made by the builder: the last one is the one resolved.
        services.AddSingleton<ILoggerFactory>(_ => new LoggerFactory([stderr], new LoggerFilterOptions { MinLevel = minimumLevel }));
        services.AddSingleton<IOptions<HostOptions>>(Options.Create(new HostOptions { ShutdownTimeout = ShutdownTimeout }));
        services.AddSingleton<IHostApplicationLifetime>(sp => new ApplicationLifetime(sp.GetRequiredService<ILoggerFactory>().CreateLogger<ApplicationLifetime>()));
        services.AddSingleton<IHostLifetime>(sp => new DaemonLifetime(sp.GetRequiredService<IHostApplicationLifetime>()));
        // No option is validated on start; the host would still resolve the validator, and with it
        // IOptions<StartupValidatorOptions> through the open-generic path, on every start.
        services.RemoveAll<IStartupValidator>();
        AddDaemon(services);
        return builder.Build();
    }

    /// <summary>The daemon's singletons, and <see cref="DaemonHost"/> as the hosted service that runs them.</summary>
    public static void AddDaemon(IServiceCollection services)
    {
        services.AddSingleton<EventBus>(_ => new EventBus());
        services.AddSingleton<ControlLoop>(_ => new ControlLoop());
        services.AddSingleton<QmpSchema>(_ => QmpSchema.LoadEmbedded());
        services.AddSingleton<CommandRegistry>(sp =>
        {
            var commands = CommandRegistry.CreateDefault();
            commands.VerifyAgainst(sp.GetRequiredService<QmpSchema>());
            return commands;
        });
        services.AddSingleton<IDaemonControl>(sp => new DaemonControl(sp.GetRequiredService<IHostApplicationLifetime>().StopApplication));
        services.AddSingleton<BlockGraph>(sp =>
        {
            var graph = new BlockGraph { Events = new BlockEventForwarder(sp.GetRequiredService<EventBus>()) };
            graph.RegisterDriver(new FileDriverFactory());
            graph.RegisterDriver(new NullDriverFactory());
            graph.RegisterDriver(new RawDriverFactory());
            graph.RegisterDriver(new Qcow2DriverFactory());
            // tls-creds name --object tls-creds-x509 objects, which live with the QMP server's
            // exports; the driver asks only when a node is opened, after the server exists.
            graph.RegisterDriver(new NbdClientDriverFactory(id => sp.GetRequiredService<QmpServer>().Exports.TlsCredentials.GetValueOrDefault(id)));
            graph.RegisterDriver(new BlkdebugDriverFactory());
            graph.RegisterDriver(new BlockDaemon.Core.Drivers.CopyBeforeWrite.CopyBeforeWriteDriverFactory());
            graph.RegisterDriver(new BlockDaemon.Core.Drivers.SnapshotAccess.SnapshotAccessDriverFactory());
            graph.RegisterDriver(new BlockDaemon.Core.Drivers.CopyOnRead.CopyOnReadDriverFactory());
            graph.RegisterDriver(new BlockDaemon.Core.Drivers.CommitTop.CommitTopDriverFactory());
            graph.RegisterDriver(new BlockDaemon.Core.Drivers.MirrorTop.MirrorTopDriverFactory());
            return graph;
        });
        services.AddSingleton<QmpServer>(sp => new QmpServer(
            sp.GetRequiredService<BlockGraph>(),
            sp.GetRequiredService<QmpSchema>(),
            sp.GetRequiredService<CommandRegistry>(),
            sp.GetRequiredService<ControlLoop>(),
            sp.GetRequiredService<EventBus>(),
            sp.GetRequiredService<IDaemonControl>(),
            sp.GetRequiredService<ILoggerFactory>().CreateLogger<QmpServer>()));
        services.AddSingleton<DaemonHost>(sp => new DaemonHost(
            sp.GetRequiredService<QmpServer>(),
            sp.GetRequiredService<ControlLoop>(),
            sp.GetRequiredService<IHostApplicationLifetime>(),
            sp.GetRequiredService<ILoggerFactory>().CreateLogger<DaemonHost>()));
        services.AddHostedService(sp => sp.GetRequiredService<DaemonHost>());
    }
}
