using BlockDaemon.Qmp.Commands;
using Microsoft.Extensions.Hosting;

namespace BlockDaemon;

/// <summary>The host's side of <see cref="IDaemonControl"/>: version and shutdown.</summary>
internal sealed class DaemonControl(IHostApplicationLifetime lifetime) : IDaemonControl
{
    /// <summary>The QEMU version whose QMP behaviour blockd reproduces; management tools gate features on it.</summary>
    public (int Major, int Minor, int Micro, string Package) Version => (7, 2, 0, $"blockd {ProductVersion}");

    public static string ProductVersion => "0.1.0";

    public void RequestShutdown() => lifetime.StopApplication();
}
