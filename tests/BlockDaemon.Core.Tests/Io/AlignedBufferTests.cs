using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using BlockDaemon.Core.Io;

namespace BlockDaemon.Core.Tests.Io;

public sealed class AlignedBufferTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(512)]
    [InlineData(5000)]
    [InlineData(8 << 20)]
    public void Rented_buffers_have_the_asked_length_and_are_4k_aligned(int length)
    {
        using var buffer = AlignedBufferPool.Rent(length);
        Assert.Equal(length, buffer.Memory.Length);
        Assert.True(buffer.Capacity >= length);
        Assert.Equal(0, AddressOf(buffer.Memory.Span) % AlignedBuffer.Alignment);
        buffer.Memory.Span.Fill(0xa5);
        Assert.Equal(0xa5, buffer.Memory.Span[^1]);
    }

    [Fact]
    public void A_returned_buffer_is_handed_out_again_with_the_new_length()
    {
        // A size class of its own, so tests running in parallel do not take it first.
        const int Length = 3 << 20;
        var first = AlignedBufferPool.Rent(Length);
        ((IDisposable)first).Dispose();
        using var second = AlignedBufferPool.Rent(Length - 100);
        Assert.Same(first, second);
        Assert.Equal(Length - 100, second.Memory.Length);
    }

    // The buffer is native memory, so its address is stable; no unsafe code needed to read it.
    private static nint AddressOf(Span<byte> span) =>
        Unsafe.ByteOffset(ref Unsafe.NullRef<byte>(), ref MemoryMarshal.GetReference(span));
}
