using System.Numerics;

namespace BlockDaemon.Core.Bitmaps;

/// <summary>
/// A bit per granule with a summary level above it: a set bit of <see cref="_summary"/> means
/// "this 64-bit word of the bits is not zero". Setting and clearing ranges touch whole words;
/// finding the next set bit skips empty stretches 4096 granules at a time, so a 1 TiB disk at
/// 64 KiB granularity (16 Mi bits, 2 MiB of words, 32 KiB of summary) is cheap to scan.
/// The population count is kept as bits change, so <see cref="Count"/> costs nothing.
/// Not thread-safe: the owner serialises access (one lock per bitmap).
/// </summary>
public sealed class HierarchicalBitmap
{
    private readonly ulong[] _words;
    private readonly ulong[] _summary;

    public HierarchicalBitmap(long bits)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bits);
        Length = bits;
        _words = new ulong[(bits + 63) / 64];
        _summary = new ulong[(_words.Length + 63) / 64];
    }

    /// <summary>Number of bits (granules).</summary>
    public long Length { get; }

    /// <summary>Number of set bits.</summary>
    public long Count { get; private set; }

    public bool Get(long bit)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bit);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(bit, Length);
        return (_words[bit >> 6] >> (int)(bit & 63) & 1) != 0;
    }

    /// <summary>Sets bits [start, start + count).</summary>
    public void Set(long start, long count) => Update(start, count, set: true);

    /// <summary>Clears bits [start, start + count).</summary>
    public void Reset(long start, long count) => Update(start, count, set: false);

    public void Clear()
    {
        Array.Clear(_words);
        Array.Clear(_summary);
        Count = 0;
    }

    /// <summary>The first set bit at or after <paramref name="from"/>, or -1.</summary>
    public long NextSet(long from)
    {
        if (from < 0 || from >= Length)
        {
            return -1;
        }
        long word = from >> 6;
        ulong bits = _words[word] & (~0UL << (int)(from & 63));
        if (bits != 0)
        {
            return (word << 6) + BitOperations.TrailingZeroCount(bits);
        }
        // Next non-empty word, through the summary.
        long next = word + 1;
        while (next < _words.Length)
        {
            long group = next >> 6;
            ulong mask = _summary[group] & (~0UL << (int)(next & 63));
            if (mask != 0)
            {
                long w = (group << 6) + BitOperations.TrailingZeroCount(mask);
                return (w << 6) + BitOperations.TrailingZeroCount(_words[w]);
            }
            next = (group + 1) << 6;
        }
        return -1;
    }

    /// <summary>The first clear bit at or after <paramref name="from"/>, or -1.</summary>
    public long NextClear(long from)
    {
        for (long word = Math.Max(0, from) >> 6; from < Length && word < _words.Length; word++)
        {
            ulong clear = ~_words[word];
            if (word == from >> 6)
            {
                clear &= ~0UL << (int)(from & 63);
            }
            if (clear != 0)
            {
                long bit = (word << 6) + BitOperations.TrailingZeroCount(clear);
                return bit < Length ? bit : -1;
            }
        }
        return -1;
    }

    /// <summary>Sets every bit that is set in <paramref name="other"/> (same length).</summary>
    public void Merge(HierarchicalBitmap other)
    {
        if (other.Length != Length)
        {
            throw new ArgumentException("Bitmaps of different lengths cannot be merged", nameof(other));
        }
        for (int g = 0; g < other._summary.Length; g++)
        {
            for (ulong mask = other._summary[g]; mask != 0; mask &= mask - 1)
            {
                int w = (g << 6) + BitOperations.TrailingZeroCount(mask);
                ulong added = other._words[w] & ~_words[w];
                if (added != 0)
                {
                    _words[w] |= added;
                    Count += BitOperations.PopCount(added);
                    _summary[g] |= 1UL << (w & 63);
                }
            }
        }
    }

    /// <summary>A copy with its own storage.</summary>
    public HierarchicalBitmap Clone()
    {
        var copy = new HierarchicalBitmap(Length);
        Array.Copy(_words, copy._words, _words.Length);
        Array.Copy(_summary, copy._summary, _summary.Length);
        copy.Count = Count;
        return copy;
    }

    /// <summary>A copy of <paramref name="bits"/> bits: the first ones kept, any new ones clear.</summary>
    public HierarchicalBitmap Resized(long bits)
    {
        var copy = new HierarchicalBitmap(bits);
        for (long bit = NextSet(0); bit >= 0 && bit < bits; bit = NextSet(bit))
        {
            long end = NextClear(bit);
            end = end < 0 ? Length : end;
            copy.Set(bit, Math.Min(end, bits) - bit);
            if (end >= Length)
            {
                break;
            }
            bit = end;
        }
        return copy;
    }

    /// <summary>Replaces every bit with those of <paramref name="other"/> (same length).</summary>
    public void CopyFrom(HierarchicalBitmap other)
    {
        if (other.Length != Length)
        {
            throw new ArgumentException("Bitmaps of different lengths cannot be copied", nameof(other));
        }
        Array.Copy(other._words, _words, _words.Length);
        Array.Copy(other._summary, _summary, _summary.Length);
        Count = other.Count;
    }

    /// <summary>Whether every bit of [start, start + count) is set.</summary>
    public bool AllSet(long start, long count)
    {
        long clear = NextClear(start);
        return clear < 0 || clear >= start + count;
    }

    /// <summary>The bits as 64-bit little-endian words, (Length + 63) / 64 of them (QEMU's hbitmap serialization).</summary>
    public byte[] ToWordBytes()
    {
        var bytes = new byte[_words.Length * 8];
        for (int i = 0; i < _words.Length; i++)
        {
            System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(i * 8), _words[i]);
        }
        return bytes;
    }

    /// <summary>The bits as bytes, bit i at byte i / 8, bit i % 8 (the qcow2 bitmap data layout).</summary>
    public void CopyTo(Span<byte> destination, long firstBit)
    {
        if ((firstBit & 7) != 0)
        {
            throw new ArgumentException("The first bit must be a multiple of 8", nameof(firstBit));
        }
        destination.Clear();
        for (int i = 0; i < destination.Length; i++)
        {
            long bit = firstBit + (i * 8L);
            if (bit >= Length)
            {
                break;
            }
            destination[i] = (byte)(_words[bit >> 6] >> (int)(bit & 63));
        }
    }

    /// <summary>Sets the bits given as bytes (layout of <see cref="CopyTo"/>), from <paramref name="firstBit"/>.</summary>
    public void SetFrom(ReadOnlySpan<byte> source, long firstBit)
    {
        if ((firstBit & 7) != 0)
        {
            throw new ArgumentException("The first bit must be a multiple of 8", nameof(firstBit));
        }
        // A byte at a multiple of 8 bits lies within one word: OR it in whole (a full data
        // cluster of a stored bitmap is half a million bits).
        for (int i = 0; i < source.Length; i++)
        {
            long bit = firstBit + (i * 8L);
            if (source[i] == 0 || bit >= Length)
            {
                continue;
            }
            ulong mask = (ulong)source[i] << (int)(bit & 63);
            if (Length - bit < 8)
            {
                mask &= (1UL << (int)((bit & 63) + (Length - bit))) - 1;
            }
            SetInWord(bit >> 6, mask);
        }
    }

    private void SetInWord(long word, ulong mask)
    {
        ulong old = _words[word];
        ulong updated = old | mask;
        if (updated != old)
        {
            _words[word] = updated;
            Count += BitOperations.PopCount(updated) - BitOperations.PopCount(old);
            _summary[word >> 6] |= 1UL << (int)(word & 63);
        }
    }

    private void Update(long start, long count, bool set)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(start);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (count == 0)
        {
            return;
        }
        if (start > Length - count)
        {
            throw new ArgumentOutOfRangeException(nameof(count), $"Bits [{start}, {start + count}) lie beyond the bitmap's {Length} bits");
        }
        long end = start + count;
        for (long word = start >> 6; word <= (end - 1) >> 6; word++)
        {
            long from = Math.Max(start, word << 6) - (word << 6);
            long to = Math.Min(end, (word + 1) << 6) - (word << 6);
            ulong mask = to - from == 64 ? ~0UL : ((1UL << (int)(to - from)) - 1) << (int)from;
            ulong old = _words[word];
            ulong updated = set ? old | mask : old & ~mask;
            if (updated == old)
            {
                continue;
            }
            _words[word] = updated;
            Count += BitOperations.PopCount(updated) - BitOperations.PopCount(old);
            if (updated == 0)
            {
                _summary[word >> 6] &= ~(1UL << (int)(word & 63));
            }
            else
            {
                _summary[word >> 6] |= 1UL << (int)(word & 63);
            }
        }
    }
}
