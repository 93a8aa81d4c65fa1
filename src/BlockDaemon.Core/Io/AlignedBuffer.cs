using System.Buffers;
using System.Collections.Concurrent;
using System.Runtime.InteropServices;

namespace BlockDaemon.Core.Io;

/// <summary>
/// Native memory aligned to 4 KiB (what O_DIRECT needs), rented from <see cref="AlignedBufferPool"/>.
/// One owner at a time; disposing returns it to the pool.
/// </summary>
public sealed unsafe class AlignedBuffer : MemoryManager<byte>
{
    public const int Alignment = 4096;
    private readonly byte* _pointer;
    private readonly int _capacity;
    private int _length;

    internal AlignedBuffer(int capacity)
    {
        _capacity = capacity;
        _pointer = (byte*)NativeMemory.AlignedAlloc((nuint)capacity, Alignment);
    }

    public int Capacity => _capacity;

    internal void SetLength(int length) => _length = length;

    public override Span<byte> GetSpan() => new(_pointer, _length);

    public override MemoryHandle Pin(int elementIndex = 0) => new(_pointer + elementIndex);

    public override void Unpin()
    {
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && AlignedBufferPool.Return(this))
        {
            return;
        }
        NativeMemory.AlignedFree(_pointer);
    }

    internal void Free() => NativeMemory.AlignedFree(_pointer);
}

/// <summary>A small pool of aligned buffers by power-of-two size class, bounded per class.</summary>
public static class AlignedBufferPool
{
    private const int MaxPooledSize = 4 << 20;
    private const int MaxPerClass = 16;
    private static readonly ConcurrentBag<AlignedBuffer>[] Classes =
        Enumerable.Range(0, 32).Select(_ => new ConcurrentBag<AlignedBuffer>()).ToArray();

    /// <summary>A buffer whose <see cref="MemoryManager{T}.Memory"/> is exactly <paramref name="length"/> bytes.</summary>
    public static AlignedBuffer Rent(int length)
    {
        int capacity = (int)Math.Max(AlignedBuffer.Alignment, System.Numerics.BitOperations.RoundUpToPowerOf2((uint)length));
        AlignedBuffer? buffer = null;
        if (capacity <= MaxPooledSize)
        {
            Classes[System.Numerics.BitOperations.Log2((uint)capacity)].TryTake(out buffer);
        }
        buffer ??= new AlignedBuffer(capacity);
        buffer.SetLength(length);
        return buffer;
    }

    internal static bool Return(AlignedBuffer buffer)
    {
        if (buffer.Capacity > MaxPooledSize)
        {
            return false;
        }
        var bag = Classes[System.Numerics.BitOperations.Log2((uint)buffer.Capacity)];
        if (bag.Count >= MaxPerClass)
        {
            return false;
        }
        bag.Add(buffer);
        return true;
    }
}
