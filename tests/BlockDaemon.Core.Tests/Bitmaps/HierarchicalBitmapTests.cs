using BlockDaemon.Core.Bitmaps;

namespace BlockDaemon.Core.Tests.Bitmaps;

/// <summary>Random operations checked against a plain bool-per-bit model.</summary>
public sealed class HierarchicalBitmapTests
{
    [Theory]
    [InlineData(1, 1)]
    [InlineData(2, 63)]
    [InlineData(3, 64)]
    [InlineData(4, 4097)]
    [InlineData(5, 64 * 64 * 3 + 5)]
    public void Random_ranges_match_a_bit_per_bool_model(int seed, int length)
    {
        var rng = new Random(seed);
        var bitmap = new HierarchicalBitmap(length);
        var model = new bool[length];
        for (int op = 0; op < 2000; op++)
        {
            int start = rng.Next(length);
            int count = rng.Next(0, Math.Min(length - start, rng.Next(2) == 0 ? 70 : length) + 1);
            bool set = rng.Next(3) != 0;
            if (set)
            {
                bitmap.Set(start, count);
            }
            else
            {
                bitmap.Reset(start, count);
            }
            Array.Fill(model, set, start, count);

            int probe = rng.Next(length);
            Assert.Equal(model[probe], bitmap.Get(probe));
            Assert.Equal(Expected(model, probe, true), bitmap.NextSet(probe));
            Assert.Equal(Expected(model, probe, false), bitmap.NextClear(probe));
        }
        Assert.Equal(model.Count(b => b), bitmap.Count);
        for (int i = 0; i < length; i++)
        {
            Assert.Equal(model[i], bitmap.Get(i));
        }
    }

    [Fact]
    public void Merge_ors_the_bits_and_keeps_the_count()
    {
        var rng = new Random(9);
        const int length = 64 * 64 * 2 + 17;
        var a = new HierarchicalBitmap(length);
        var b = new HierarchicalBitmap(length);
        var model = new bool[length];
        for (int i = 0; i < 300; i++)
        {
            int start = rng.Next(length);
            int count = rng.Next(0, Math.Min(100, length - start) + 1);
            (i % 2 == 0 ? a : b).Set(start, count);
            Array.Fill(model, true, start, count);
        }
        a.Merge(b);
        Assert.Equal(model.Count(x => x), a.Count);
        for (int i = 0; i < length; i++)
        {
            Assert.Equal(model[i], a.Get(i));
        }
        Assert.Throws<ArgumentException>(() => a.Merge(new HierarchicalBitmap(length + 1)));
    }

    [Fact]
    public void Bytes_round_trip_in_the_qcow2_layout()
    {
        var bitmap = new HierarchicalBitmap(100);
        bitmap.Set(0, 1);
        bitmap.Set(9, 2);
        bitmap.Set(99, 1);
        var bytes = new byte[13];
        bitmap.CopyTo(bytes, 0);
        // Bit i is bit i % 8 of byte i / 8.
        Assert.Equal(0b0000_0001, bytes[0]);
        Assert.Equal(0b0000_0110, bytes[1]);
        Assert.Equal(0b0000_1000, bytes[12]);
        var copy = new HierarchicalBitmap(100);
        copy.SetFrom(bytes, 0);
        Assert.Equal(4, copy.Count);
        Assert.Equal(99, copy.NextSet(11));
    }

    [Fact]
    public void A_disk_sized_bitmap_finds_a_far_bit_and_refuses_ranges_past_its_end()
    {
        // 1 TiB at 64 KiB granularity.
        var bitmap = new HierarchicalBitmap(16L << 20);
        bitmap.Set((16L << 20) - 1, 1);
        Assert.Equal((16L << 20) - 1, bitmap.NextSet(0));
        Assert.Equal(-1, bitmap.NextSet(16L << 20));
        Assert.Throws<ArgumentOutOfRangeException>(() => bitmap.Set((16L << 20) - 1, 2));
        bitmap.Reset(0, 16L << 20);
        Assert.Equal(0, bitmap.Count);
        Assert.Equal(-1, bitmap.NextSet(0));
    }

    private static long Expected(bool[] model, int from, bool value)
    {
        for (int i = from; i < model.Length; i++)
        {
            if (model[i] == value)
            {
                return i;
            }
        }
        return -1;
    }
}
