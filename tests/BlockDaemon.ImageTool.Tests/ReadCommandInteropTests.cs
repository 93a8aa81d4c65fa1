using BlockDaemon.TestKit;
using static BlockDaemon.ImageTool.Tests.Tools;

namespace BlockDaemon.ImageTool.Tests;

/// <summary>info, map and check print what qemu-img prints for the same image, in both output formats.</summary>
public sealed class ReadCommandInteropTests : IDisposable
{
    private readonly TempDirectory _dir = new("bi-read-");

    public void Dispose() => _dir.Dispose();

    public static TheoryData<string> Scenarios => new(Corpus.Scenarios);

    public static TheoryData<string, string> HumanCommands()
    {
        var data = new TheoryData<string, string>();
        foreach (string scenario in Corpus.Scenarios)
        {
            foreach (string command in new[] { "info", "info --backing-chain", "map", "check" })
            {
                data.Add(scenario, command);
            }
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(HumanCommands))]
    public async Task Human_output_and_exit_code_match_qemu_img(string scenario, string command)
    {
        ExternalTools.Require(ExternalTools.QemuImg, ExternalTools.QemuIo);
        string image = await Corpus.BuildAsync(_dir, scenario);
        string[] args = [.. command.Split(' '), image];
        Same(await QemuImgAsync(args), await BlockimgAsync(args), $"{command} on {scenario}");
    }

    [Theory]
    [MemberData(nameof(Scenarios))]
    public async Task Json_output_matches_qemu_img_field_by_field(string scenario)
    {
        ExternalTools.Require(ExternalTools.QemuImg, ExternalTools.QemuIo);
        string image = await Corpus.BuildAsync(_dir, scenario);
        foreach (string command in new[] { "info", "info --backing-chain", "map", "check" })
        {
            string[] args = [.. command.Split(' '), "--output=json", image];
            var expected = await QemuImgAsync(args);
            var actual = await BlockimgAsync(args);
            Assert.True(expected.ExitCode == actual.ExitCode, $"{command}: {expected} vs {actual}");
            if (expected.ExitCode == 0)
            {
                SameJson(expected.Stdout, actual.Stdout, $"{command} --output=json on {scenario}");
                // Member order and layout too: QEMU's pretty printer.
                Assert.Equal(expected.Stdout, actual.Stdout);
            }
        }
    }
}
