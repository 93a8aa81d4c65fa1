using System.IO.Compression;
using System.Runtime.InteropServices;
using BlockDaemon.Qcow2.Format;

namespace BlockDaemon.Qcow2.Engine;

/// <summary>Compressed clusters: raw deflate (zlib type) or zstd frames, one cluster each.</summary>
internal static partial class Compression
{
    /// <summary>Decompresses exactly one cluster; a short or malformed stream is corruption.</summary>
    public static void Decompress(CompressionType type, ReadOnlySpan<byte> input, Span<byte> cluster)
    {
        if (type == CompressionType.Zstd)
        {
            DecompressZstd(input, cluster);
            return;
        }
        using var source = new UnmanagedCopy(input);
        using var inflater = new DeflateStream(source.Stream, CompressionMode.Decompress);
        int total = 0;
        try
        {
            while (total < cluster.Length)
            {
                int n = inflater.Read(cluster[total..]);
                if (n == 0)
                {
                    break;
                }
                total += n;
            }
        }
        catch (InvalidDataException e)
        {
            throw Qcow2Errors.Corrupt("Invalid compressed cluster: " + e.Message);
        }
        if (total != cluster.Length)
        {
            throw Qcow2Errors.Corrupt("Invalid compressed cluster: it decompresses to fewer bytes than a cluster");
        }
    }

    /// <summary>Compresses a cluster; returns the compressed length, or -1 when it does not shrink below a cluster.</summary>
    public static int Compress(CompressionType type, ReadOnlySpan<byte> cluster, Span<byte> output)
    {
        if (type == CompressionType.Zstd)
        {
            nuint n = ZstdCompress(ref MemoryMarshal.GetReference(output), (nuint)output.Length,
                ref MemoryMarshal.GetReference(cluster), (nuint)cluster.Length, 3);
            return ZstdIsError(n) != 0 || (int)n >= cluster.Length ? -1 : (int)n;
        }
        return ZlibDeflate.Compress(cluster, output[..Math.Min(output.Length, cluster.Length - 1)]);
    }

    private static void DecompressZstd(ReadOnlySpan<byte> input, Span<byte> cluster)
    {
        // A stream decoder: the compressed extent is padded to whole sectors after the frame.
        nint dctx = ZstdCreateDCtx();
        try
        {
            var inBuffer = new ZstdInBuffer { Src = 0, Size = (nuint)input.Length, Pos = 0 };
            var outBuffer = new ZstdOutBuffer { Dst = 0, Size = (nuint)cluster.Length, Pos = 0 };
            unsafe
            {
                fixed (byte* src = input)
                fixed (byte* dst = cluster)
                {
                    inBuffer.Src = (nint)src;
                    outBuffer.Dst = (nint)dst;
                    while (outBuffer.Pos < outBuffer.Size)
                    {
                        nuint r = ZstdDecompressStream(dctx, ref outBuffer, ref inBuffer);
                        if (ZstdIsError(r) != 0)
                        {
                            throw Qcow2Errors.Corrupt("Invalid compressed cluster: zstd stream is malformed");
                        }
                        if (r == 0 || inBuffer.Pos == inBuffer.Size)
                        {
                            break;
                        }
                    }
                }
            }
            if (outBuffer.Pos != (nuint)cluster.Length)
            {
                throw Qcow2Errors.Corrupt("Invalid compressed cluster: it decompresses to fewer bytes than a cluster");
            }
        }
        catch (DllNotFoundException)
        {
            throw Qcow2Errors.NotSupported("zstd compressed clusters need libzstd.so.1, which is not installed");
        }
        finally
        {
            if (dctx != 0)
            {
                ZstdFreeDCtx(dctx);
            }
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct ZstdInBuffer
    {
        public nint Src;
        public nuint Size;
        public nuint Pos;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct ZstdOutBuffer
    {
        public nint Dst;
        public nuint Size;
        public nuint Pos;
    }

    [LibraryImport("libzstd.so.1", EntryPoint = "ZSTD_createDCtx")]
    private static partial nint ZstdCreateDCtx();

    [LibraryImport("libzstd.so.1", EntryPoint = "ZSTD_freeDCtx")]
    private static partial nuint ZstdFreeDCtx(nint dctx);

    [LibraryImport("libzstd.so.1", EntryPoint = "ZSTD_decompressStream")]
    private static partial nuint ZstdDecompressStream(nint dctx, ref ZstdOutBuffer output, ref ZstdInBuffer input);

    [LibraryImport("libzstd.so.1", EntryPoint = "ZSTD_isError")]
    private static partial uint ZstdIsError(nuint code);

    [LibraryImport("libzstd.so.1", EntryPoint = "ZSTD_compress")]
    private static partial nuint ZstdCompress(ref byte dst, nuint dstCapacity, ref byte src, nuint srcSize, int level);

    /// <summary>A read-only stream over a copy of a span (DeflateStream needs a Stream).</summary>
    private sealed class UnmanagedCopy(ReadOnlySpan<byte> data) : IDisposable
    {
        public MemoryStream Stream { get; } = new(data.ToArray(), writable: false);

        public void Dispose() => Stream.Dispose();
    }
}
