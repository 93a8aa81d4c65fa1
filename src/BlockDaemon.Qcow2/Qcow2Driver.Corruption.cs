using System.Buffers.Binary;
using BlockDaemon.Core.Io;
using BlockDaemon.Qcow2.Format;

namespace BlockDaemon.Qcow2;

/// <summary>
/// Marks the image corrupt when the node finds an inconsistency at run time (the graph calls
/// this once, then refuses writes): later read-write opens are refused until a repair.
/// </summary>
public sealed partial class Qcow2Driver : IImageCorruptionMarker
{
    // Once set, no cached metadata is written back: it may encode the very inconsistency found.
    private volatile bool _markedCorrupt;

    public async ValueTask MarkCorruptAsync(CancellationToken ct)
    {
        _markedCorrupt = true;
        if (!IsV3)
        {
            // Version 2 has no feature bits to record it in.
            return;
        }
        await _lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            ulong incompatible = _header.RawIncompatible | (ulong)IncompatibleFeatures.Corrupt;
            var bytes = new byte[8];
            BinaryPrimitives.WriteUInt64BigEndian(bytes, incompatible);
            await _file.WriteAsync(72, bytes, WriteFlags.None, ct).ConfigureAwait(false);
            await _file.FlushAsync(ct).ConfigureAwait(false);
            _header = _header with { RawIncompatible = incompatible, Incompatible = (IncompatibleFeatures)incompatible };
        }
        finally
        {
            _lock.Release();
        }
    }
}
