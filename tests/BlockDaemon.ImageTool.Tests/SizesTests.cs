using BlockDaemon.ImageTool.Cli;

namespace BlockDaemon.ImageTool.Tests;

public sealed class SizesTests
{
    [Theory]
    [InlineData("1M", 1048576)]
    [InlineData("1.5G", 1610612736)]
    [InlineData("1.3k", 1331)]
    [InlineData("100", 100)]
    [InlineData("0x10", 16)]
    [InlineData("2b", 2)]
    [InlineData("1E", 1L << 60)]
    public void Sizes_parse_as_qemu_parses_them(string text, long expected)
    {
        Assert.True(Sizes.TryParse(text, out long value, out _));
        Assert.Equal(expected, value);
    }

    [Theory]
    [InlineData("12Q", false)]
    [InlineData("1.5", false)]
    [InlineData("abc", false)]
    [InlineData("", false)]
    [InlineData("99999999999999999999", true)]
    [InlineData("16E", true)]
    public void Bad_sizes_are_refused(string text, bool outOfRange)
    {
        Assert.False(Sizes.TryParse(text, out _, out bool range));
        Assert.Equal(outOfRange, range);
    }

    [Theory]
    [InlineData(0, "0 B")]
    [InlineData(1000, "0.977 KiB")]
    [InlineData(999, "999 B")]
    [InlineData(4194304, "4 MiB")]
    [InlineData(352256, "344 KiB")]
    [InlineData(1024000, "0.977 MiB")]
    [InlineData(1072693248, "0.999 GiB")]
    [InlineData(1610612736, "1.5 GiB")]
    public void Human_sizes_are_qemus_size_to_str(long bytes, string expected) => Assert.Equal(expected, Sizes.Human(bytes));
}
