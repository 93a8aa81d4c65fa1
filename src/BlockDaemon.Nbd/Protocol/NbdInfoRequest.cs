using System.Buffers.Binary;
using System.Text;

namespace BlockDaemon.Nbd.Protocol;

/// <summary>The data of NBD_OPT_INFO and NBD_OPT_GO: an export name and the information wanted.</summary>
public sealed record NbdInfoRequest(string ExportName, IReadOnlyList<NbdInfoType> Requests)
{
    // C: 32 bits, length of name (unsigned); MUST be no larger than the option data length - 6
    // C: String: name of the export
    // C: 16 bits, number of information requests
    // C: 16 bits x n - list of NBD_INFO information requests
    /// <summary>Parses a whole option payload; false with <paramref name="error"/> (for ERR_INVALID) when it is malformed.</summary>
    public static bool TryParse(ReadOnlySpan<byte> data, out NbdInfoRequest? request, out string error)
    {
        request = null;
        if (!NbdWireText.TryReadString(ref data, out string name, out error))
        {
            return false;
        }
        if (data.Length < 2)
        {
            error = "Request data has incorrect length";
            return false;
        }
        int count = BinaryPrimitives.ReadUInt16BigEndian(data);
        data = data[2..];
        if (data.Length != count * 2)
        {
            error = "Request data has incorrect length";
            return false;
        }
        var requests = new NbdInfoType[count];
        for (int i = 0; i < count; i++)
        {
            requests[i] = (NbdInfoType)BinaryPrimitives.ReadUInt16BigEndian(data[(i * 2)..]);
        }
        request = new NbdInfoRequest(name, requests);
        error = "";
        return true;
    }
}

/// <summary>Length-prefixed strings as they appear inside option data.</summary>
internal static class NbdWireText
{
    // 32 bits length (unsigned), then that many bytes of UTF-8; at most NbdLimits.MaxString.
    public static bool TryReadString(ref ReadOnlySpan<byte> data, out string value, out string error)
    {
        value = "";
        if (data.Length < 4)
        {
            error = "Request data has incorrect length";
            return false;
        }
        uint length = BinaryPrimitives.ReadUInt32BigEndian(data);
        if (length > NbdLimits.MaxString)
        {
            error = $"Name too long ({length} bytes, at most {NbdLimits.MaxString})";
            return false;
        }
        if (length > data.Length - 4)
        {
            error = "Request data has incorrect length";
            return false;
        }
        value = Encoding.UTF8.GetString(data.Slice(4, (int)length));
        data = data[(4 + (int)length)..];
        error = "";
        return true;
    }
}
