using BlockDaemon.Core.Errors;

namespace BlockDaemon.Core.Tests;

/// <summary>Assertions for the block layer's one error type.</summary>
internal static class BlockAssert
{
    public static async Task<BlockException> ThrowsAsync(Func<ValueTask> action, BlockErrorKind? kind = null, string? message = null)
    {
        var e = await Assert.ThrowsAsync<BlockException>(async () => await action());
        if (kind is { } k)
        {
            Assert.Equal(k, e.Kind);
        }
        if (message is not null)
        {
            Assert.Equal(message, e.Message);
        }
        return e;
    }

    public static async Task<BlockException> ThrowsAsync<T>(Func<ValueTask<T>> action, BlockErrorKind? kind = null, string? message = null) =>
        await ThrowsAsync(async () => { await action(); }, kind, message);

    public static BlockException Throws(Action action, BlockErrorKind? kind = null, string? message = null)
    {
        var e = Assert.Throws<BlockException>(action);
        if (kind is { } k)
        {
            Assert.Equal(k, e.Kind);
        }
        if (message is not null)
        {
            Assert.Equal(message, e.Message);
        }
        return e;
    }

    /// <summary>A deterministic pattern that differs at every offset, so a misplaced byte shows.</summary>
    public static byte[] Pattern(int length, int seed = 1)
    {
        var data = new byte[length];
        for (int i = 0; i < length; i++)
        {
            data[i] = (byte)((i * 31) + (i >> 8) + seed);
        }
        return data;
    }
}
