namespace BlockDaemon.Qcow2.Tests.Crash;

/// <summary>
/// Rebuilds the image file a power cut could leave: the initial file, every request up to the
/// last flush before the cut, then the surviving pieces of the later requests in issue order.
/// </summary>
internal static class CrashImageBuilder
{
    public static byte[] Build(RecordedRun run, int crashPoint, CrashSubset subset)
    {
        int lastFlush = run.LastFlushBefore(crashPoint);
        var file = new FileBytes(run.InitialFile);
        for (int i = 0; i < lastFlush; i++)
        {
            file.Apply(run.Log[i], _ => true);
        }
        foreach (var (index, flags) in subset.Pieces)
        {
            file.Apply(run.Log[index], piece => flags[piece]);
        }
        return file.ToArray();
    }

    /// <summary>A growable file image (writes past the end extend it with zeroes, as on a file system).</summary>
    private sealed class FileBytes(byte[] initial)
    {
        private byte[] _data = (byte[])initial.Clone();
        private long _length = initial.LongLength;

        public void Apply(DiskEvent e, Func<int, bool> survives)
        {
            switch (e.Kind)
            {
                case DiskEventKind.Write:
                    for (int p = 0; p < CrashSubset.PieceCount(e); p++)
                    {
                        if (survives(p))
                        {
                            var (start, end) = CrashSubset.PieceRange(e, p);
                            EnsureLength(end);
                            e.Data!.AsSpan((int)(start - e.Offset), (int)(end - start)).CopyTo(_data.AsSpan((int)start));
                        }
                    }
                    break;
                case DiskEventKind.Discard when survives(0):
                    long to = Math.Min(e.End, _length);
                    if (to > e.Offset)
                    {
                        _data.AsSpan((int)e.Offset, (int)(to - e.Offset)).Clear();
                    }
                    break;
                case DiskEventKind.Truncate when survives(0):
                    EnsureLength(e.Length);
                    if (e.Length < _length)
                    {
                        _data.AsSpan((int)e.Length, (int)(_length - e.Length)).Clear();
                    }
                    _length = e.Length;
                    break;
            }
        }

        public byte[] ToArray() => _data.AsSpan(0, (int)_length).ToArray();

        private void EnsureLength(long length)
        {
            if (length > _data.LongLength)
            {
                Array.Resize(ref _data, (int)Math.Max(length, _data.LongLength * 2));
            }
            _length = Math.Max(_length, length);
        }
    }
}
