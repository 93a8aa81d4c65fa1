using BlockDaemon.Nbd.Protocol;

namespace BlockDaemon.Nbd.Server.MetaContexts;

/// <summary>Collects extents for one reply: merges equal neighbours and stops at a maximum count.</summary>
internal sealed class NbdExtentBuilder(int max)
{
    private readonly List<NbdExtent> _extents = [];

    /// <summary>Adds <paramref name="length"/> bytes with <paramref name="flags"/>; false when the reply is full.</summary>
    public bool Add(uint length, uint flags)
    {
        if (_extents.Count > 0 && _extents[^1].Flags == flags)
        {
            _extents[^1] = _extents[^1] with { Length = _extents[^1].Length + length };
            return true;
        }
        if (_extents.Count == max)
        {
            return false;
        }
        _extents.Add(new NbdExtent(length, flags));
        return true;
    }

    public NbdExtent[] ToArray() => [.. _extents];
}
