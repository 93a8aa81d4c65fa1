namespace BlockDaemon.CommandLine.Keyval;

/// <summary>
/// The parse tree before listification: values are either a <see cref="string"/> leaf or a
/// nested <see cref="KeyvalTree"/>. Insertion order is kept so output and error choice are stable
/// (QEMU iterates a hash table here, so where several errors exist it may name another one).
/// </summary>
internal sealed class KeyvalTree : OrderedDictionary<string, object>
{
    public KeyvalTree()
        : base(StringComparer.Ordinal)
    {
    }
}
