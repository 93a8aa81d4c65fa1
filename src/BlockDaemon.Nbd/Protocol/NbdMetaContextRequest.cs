using System.Buffers.Binary;

namespace BlockDaemon.Nbd.Protocol;

/// <summary>The data of NBD_OPT_LIST_META_CONTEXT and NBD_OPT_SET_META_CONTEXT.</summary>
public sealed record NbdMetaContextRequest(string ExportName, IReadOnlyList<string> Queries)
{
    // C: 32 bits, length of export name
    // C: String, name of export
    // C: 32 bits, number of queries
    // C: per query: 32 bits, length of query; String, query
    /// <summary>Parses a whole option payload; false with <paramref name="error"/> (for ERR_INVALID) when it is malformed.</summary>
    public static bool TryParse(ReadOnlySpan<byte> data, out NbdMetaContextRequest? request, out string error)
    {
        request = null;
        if (!NbdWireText.TryReadString(ref data, out string name, out error))
        {
            return false;
        }
        if (data.Length < 4)
        {
            error = "Request data has incorrect length";
            return false;
        }
        uint count = BinaryPrimitives.ReadUInt32BigEndian(data);
        data = data[4..];
        // Each query takes at least its 4-byte length, so this bounds the list before allocating it.
        if (count > data.Length / 4)
        {
            error = "Request data has incorrect length";
            return false;
        }
        var queries = new List<string>((int)count);
        for (uint i = 0; i < count; i++)
        {
            if (!NbdWireText.TryReadString(ref data, out string query, out error))
            {
                return false;
            }
            queries.Add(query);
        }
        if (!data.IsEmpty)
        {
            error = "Request data has incorrect length";
            return false;
        }
        request = new NbdMetaContextRequest(name, queries);
        return true;
    }
}
