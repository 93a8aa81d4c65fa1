using BlockDaemon.Qmp.Commands;

namespace BlockDaemon;

/// <summary>The daemon's side of <see cref="IDaemonControl"/>: version and shutdown.</summary>
internal sealed class DaemonControl(Action requestShutdown) : IDaemonControl
{
    /// <summary>The QEMU version whose QMP behaviour blockd reproduces; management tools gate features on it.</summary>
    public (int Major, int Minor, int Micro, string Package) Version => (7, 2, 0, $"blockd {ProductVersion}");

    public static string ProductVersion => "0.1.0";

    public void RequestShutdown() => requestShutdown();
}
