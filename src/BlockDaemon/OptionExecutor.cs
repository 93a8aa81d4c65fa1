using System.Text.Json.Nodes;
using BlockDaemon.CommandLine;
using BlockDaemon.Core.Errors;
using BlockDaemon.Qmp;
using BlockDaemon.Qmp.Commands;
using BlockDaemon.Qmp.Exports;
using BlockDaemon.Qmp.Schema;
using BlockDaemon.Qmp.Server;

namespace BlockDaemon;

/// <summary>
/// Carries out the command-line options in order, as qsd does: each maps onto what its QMP
/// command would do (--blockdev is blockdev-add), on the control loop. The first failure stops
/// start-up with qsd's "LOCATION: MESSAGE".
/// </summary>
internal sealed class OptionExecutor(QmpServer server, TextWriter stdout)
{
    private readonly Dictionary<string, ChardevOption> _chardevs = new(StringComparer.Ordinal);
    private readonly HashSet<string> _chardevsInUse = new(StringComparer.Ordinal);

    // The user-creatable object types qsd 7.2 knows; others are refused in qsd's words.
    private static readonly HashSet<string> KnownQomTypes = new(StringComparer.Ordinal)
    {
        "authz-list", "authz-listfile", "authz-pam", "authz-simple", "iothread", "secret",
        "secret_keyring", "throttle-group", "tls-cipher-suites", "tls-creds-anon", "tls-creds-psk",
        "tls-creds-x509",
    };

    // The ones blockd has (the schema's ObjectType), in the order qsd lists them.
    private static readonly string[] SupportedQomTypes = ["authz-simple", "iothread", "secret", "tls-creds-psk", "tls-creds-x509"];

    /// <summary>Set when an option asked for a listing and an exit code instead of a running daemon.</summary>
    public int? ExitCode { get; private set; }

    public async Task ExecuteAsync(IEnumerable<DaemonOption> options)
    {
        foreach (var option in options)
        {
            foreach (var warning in option.Warnings)
            {
                Console.Error.Write(warning.Format("blockd"));
            }
            try
            {
                await ExecuteOneAsync(option).ConfigureAwait(false);
            }
            catch (QmpException e)
            {
                throw new StartupException(option.Location, e.Message);
            }
            catch (BlockException e)
            {
                throw new StartupException(option.Location, e.Message);
            }
            if (ExitCode is not null)
            {
                return;
            }
        }
    }

    /// <summary>Adds a node described by options (from --blockdev or a config file).</summary>
    public Task AddBlockdevAsync(JsonObject options, bool fromKeyval)
    {
        var validated = new ArgumentValidator(server.Schema, fromKeyval).ValidateArguments("BlockdevOptions", options);
        return server.Loop.InvokeAsync(() => BlockCoreCommands.BlockdevAdd(server.CreateContext(null), validated));
    }

    /// <summary>Starts the NBD server, as nbd-server-start does (from --nbd-server or a config file).</summary>
    public Task StartNbdServerAsync(JsonObject options, bool fromKeyval) =>
        RunCommandAsync("NbdServerOptions", options, fromKeyval, (c, a) => NbdServerCommands.StartAsync(c, a, legacyAddress: false));

    /// <summary>Adds an export, as block-export-add does (from --export or a config file).</summary>
    public Task AddExportAsync(JsonObject options, bool fromKeyval) =>
        RunCommandAsync("BlockExportOptions", options, fromKeyval, BlockExportCommands.Add);

    // An option that is a QMP command: validated against the command's argument type, then run
    // on the control loop like the command.
    private Task RunCommandAsync(string argumentType, JsonObject options, bool fromKeyval, CommandHandler command)
    {
        var validated = new ArgumentValidator(server.Schema, fromKeyval).ValidateArguments(argumentType, options);
        return server.Loop.InvokeAsync(() => command(server.CreateContext(null), validated));
    }

    private async Task ExecuteOneAsync(DaemonOption option)
    {
        switch (option)
        {
            case InvalidOption invalid:
                throw invalid.Error;
            case BlockdevOption blockdev:
                await AddBlockdevAsync(blockdev.Options, blockdev.FromKeyval).ConfigureAwait(false);
                break;
            case ChardevOption chardev:
                AddChardev(chardev);
                break;
            case MonitorOption monitor:
                AddMonitor(monitor);
                break;
            case ObjectOption obj:
                await AddObjectAsync(obj).ConfigureAwait(false);
                break;
            case ObjectHelpOption help:
                stdout.WriteLine(ObjectHelp.For(help.QomType));
                ExitCode = 0;
                break;
            case PrintHelpOption print:
                stdout.Write(print.Text);
                ExitCode = print.ExitCode;
                break;
            case ExportOption export:
                await AddExportAsync(export.Options, export.FromKeyval).ConfigureAwait(false);
                break;
            case NbdServerOption nbdServer:
                await StartNbdServerAsync(nbdServer.Options, nbdServer.FromKeyval).ConfigureAwait(false);
                break;
            case TraceOption:
                throw new StartupException(option.Location, "Tracing is not supported by blockd");
            case PidfileOption or DaemonizeOption or ConfigOption:
                // First-pass options, handled by Program before start-up.
                break;
            default:
                throw new StartupException(option.Location, "This option is not supported by blockd");
        }
    }

    private void AddChardev(ChardevOption chardev)
    {
        if (_chardevs.ContainsKey(chardev.Id))
        {
            throw new StartupException(chardev.Location, "duplicate yank instance");
        }
        if (chardev.Backend != "socket" || chardev.Properties["path"] is null)
        {
            throw new StartupException(chardev.Location, "Only Unix socket chardevs (socket,path=...) are supported by blockd");
        }
        if (chardev.Properties["server"] is not JsonValue server || !server.GetValue<bool>())
        {
            throw new StartupException(chardev.Location, "Only server-mode sockets (server=on) are supported by blockd");
        }
        _chardevs.Add(chardev.Id, chardev);
    }

    private void AddMonitor(MonitorOption monitor)
    {
        if (!_chardevs.TryGetValue(monitor.Chardev, out var chardev))
        {
            throw new StartupException(monitor.Location, $"chardev \"{monitor.Chardev}\" not found");
        }
        if (monitor.Mode != "control")
        {
            throw new StartupException(monitor.Location, "Only QMP is supported");
        }
        if (!_chardevsInUse.Add(monitor.Chardev))
        {
            throw new StartupException(monitor.Location, $"Device '{monitor.Chardev}' is in use");
        }
        try
        {
            server.Listen(chardev.Properties["path"]!.GetValue<string>(), monitor.Pretty);
        }
        catch (IOException e)
        {
            throw new StartupException(chardev.Location, e.Message);
        }
    }

    // --object is object-add (qsd's user_creatable_add_qapi): iothread objects are accepted for
    // command-line compatibility (blockd's I/O runs on the thread pool); secrets, TLS credentials
    // and authz-simple objects are kept for NBD. Types qsd knows but blockd does not have are
    // refused by name before the schema sees them.
    private Task AddObjectAsync(ObjectOption obj)
    {
        string? id = obj.Properties["id"]?.GetValue<string>();
        if (id is null)
        {
            throw new StartupException(obj.Location, "Parameter 'id' is missing");
        }
        if (!KnownQomTypes.Contains(obj.QomType))
        {
            throw new StartupException(obj.Location, $"Parameter 'qom-type' does not accept value '{obj.QomType}'");
        }
        if (!SupportedQomTypes.Contains(obj.QomType))
        {
            throw new StartupException(obj.Location, $"Object type '{obj.QomType}' is not supported by blockd (supported: {string.Join(", ", SupportedQomTypes)})");
        }
        var arguments = new JsonObject { ["qom-type"] = obj.QomType };
        foreach (var (name, value) in obj.Properties)
        {
            arguments[name] = value?.DeepClone();
        }
        return RunCommandAsync("ObjectOptions", arguments, obj.FromKeyval, ObjectCommands.Add);
    }
}
