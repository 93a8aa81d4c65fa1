using System.Runtime.InteropServices;

namespace BlockDaemon.Qcow2.Engine;

/// <summary>
/// Raw deflate with a 4 KiB window through the system zlib, as QEMU writes compressed clusters:
/// QEMU inflates with windowBits -12, so a stream using a larger window (as DeflateStream does)
/// would fail there with "invalid distance too far back".
/// </summary>
internal static unsafe partial class ZlibDeflate
{
    private const int ZFinish = 4;
    private const int ZStreamEnd = 1;
    private const int ZOk = 0;
    private const int ZDeflated = 8;
    private const int DefaultLevel = -1;
    private const int WindowBits = -12;
    private const int MemLevel = 9;
    private const int DefaultStrategy = 0;

    /// <summary>Compresses <paramref name="input"/>; returns the length, or -1 when it does not fit in <paramref name="output"/>.</summary>
    public static int Compress(ReadOnlySpan<byte> input, Span<byte> output)
    {
        var stream = default(ZStream);
        try
        {
            if (DeflateInit2(&stream, DefaultLevel, ZDeflated, WindowBits, MemLevel, DefaultStrategy, ZlibVersion(), sizeof(ZStream)) != ZOk)
            {
                throw Qcow2Errors.NotSupported("zlib could not start a deflate stream");
            }
        }
        catch (DllNotFoundException)
        {
            throw Qcow2Errors.NotSupported("zlib compressed writes need libz.so.1, which is not installed");
        }
        try
        {
            fixed (byte* src = input)
            fixed (byte* dst = output)
            {
                stream.NextIn = src;
                stream.AvailIn = (uint)input.Length;
                stream.NextOut = dst;
                stream.AvailOut = (uint)output.Length;
                int result = Deflate(&stream, ZFinish);
                return result == ZStreamEnd ? output.Length - (int)stream.AvailOut : -1;
            }
        }
        finally
        {
            // Only frees the stream state; its result says nothing about the data.
            _ = DeflateEnd(&stream);
        }
    }

    // zlib's z_stream on LP64 Linux.
    [StructLayout(LayoutKind.Sequential)]
    private struct ZStream
    {
        public byte* NextIn;
        public uint AvailIn;
        public nuint TotalIn;
        public byte* NextOut;
        public uint AvailOut;
        public nuint TotalOut;
        public nint Msg;
        public nint State;
        public nint ZAlloc;
        public nint ZFree;
        public nint Opaque;
        public int DataType;
        public nuint Adler;
        public nuint Reserved;
    }

    [LibraryImport("libz.so.1", EntryPoint = "zlibVersion")]
    private static partial byte* ZlibVersion();

    [LibraryImport("libz.so.1", EntryPoint = "deflateInit2_")]
    private static partial int DeflateInit2(ZStream* stream, int level, int method, int windowBits, int memLevel, int strategy, byte* version, int streamSize);

    [LibraryImport("libz.so.1", EntryPoint = "deflate")]
    private static partial int Deflate(ZStream* stream, int flush);

    [LibraryImport("libz.so.1", EntryPoint = "deflateEnd")]
    private static partial int DeflateEnd(ZStream* stream);
}
