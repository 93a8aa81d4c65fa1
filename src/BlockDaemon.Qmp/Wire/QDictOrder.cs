using System.Text;

namespace BlockDaemon.Qmp.Wire;

/// <summary>
/// The order in which QEMU emits an object's members: QDict is a 512-bucket hash table
/// (tdb_hash), iterated bucket by bucket, each bucket newest member first. Using it makes our
/// replies byte-identical to qsd's, and picks the same member when qsd reports "the first"
/// unexpected parameter.
/// </summary>
public static class QDictOrder
{
    private const int Buckets = 512;

    public static int Bucket(string key)
    {
        int length = Encoding.UTF8.GetByteCount(key);
        Span<byte> bytes = length <= 256 ? stackalloc byte[length] : new byte[length];
        Encoding.UTF8.GetBytes(key, bytes);
        uint value = unchecked(0x238F13AFu * (uint)length);
        for (int i = 0; i < bytes.Length; i++)
        {
            value = unchecked(value + ((uint)bytes[i] << (i * 5 % 24)));
        }
        return (int)(unchecked((1103515243u * value) + 12345u) % Buckets);
    }

    /// <summary>Indexes of <paramref name="keys"/> (given in insertion order) in QEMU's iteration order.</summary>
    public static int[] Order(IReadOnlyList<string> keys)
    {
        var index = new int[keys.Count];
        var buckets = new int[keys.Count];
        for (int i = 0; i < keys.Count; i++)
        {
            index[i] = i;
            buckets[i] = Bucket(keys[i]);
        }
        // Lower bucket first; within a bucket the later insertion comes first.
        Array.Sort(index, (a, b) => buckets[a] != buckets[b] ? buckets[a].CompareTo(buckets[b]) : b.CompareTo(a));
        return index;
    }
}
