using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;
using BlockDaemon.Nbd.Protocol;
using BlockDaemon.Nbd.Tls;

namespace BlockDaemon.Nbd.Client;

/// <summary>nbd: a protocol driver whose storage is an export of an NBD server.</summary>
/// <param name="findCredentials">Looks up tls-creds-x509 objects by id; null when there are none.</param>
public sealed class NbdClientDriverFactory(Func<string, NbdTlsCredentials?>? findCredentials = null) : IBlockDriverFactory
{
    public string DriverName => "nbd";

    public async ValueTask<IBlockDriver> OpenAsync(DriverOpenContext context, CancellationToken ct)
    {
        var options = NbdClientOptions.Parse(context.Options, findCredentials);
        var node = context.Node;
        var connection = await NbdConnector.ConnectWithinAsync(options, options.OpenTimeout, ct).ConfigureAwait(false);
        try
        {
            bool exportReadOnly = (connection.Info.Flags & NbdTransmissionFlags.ReadOnly) != 0;
            if (exportReadOnly && !node.Common.ReadOnly)
            {
                if (!node.Common.AutoReadOnly)
                {
                    // qemu's words for a read-write open of a read-only export.
                    throw new BlockException(BlockErrorKind.ReadOnly, "Could not open image: Permission denied") { Errno = 1 };
                }
                node.ReadOnly = true;
            }
            return new NbdClientDriver(new NbdClientSession(options, connection), options.DisplayName);
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }
}
