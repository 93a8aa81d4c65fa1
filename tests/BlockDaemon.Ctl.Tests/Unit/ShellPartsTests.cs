using BlockDaemon.Ctl.Cli;
using BlockDaemon.Ctl.Shell;

namespace BlockDaemon.Ctl.Tests.Unit;

public sealed class ShellPartsTests
{
    [Fact]
    public void Tokenizer_splits_like_a_shell()
    {
        Assert.Equal(["blockdev-add", "driver=file", "filename=/a b/c", "x={\"a\": 1}", "y=it's", "z=\"q\""],
            ShellTokenizer.Split("""blockdev-add  driver=file filename="/a b/c" x='{"a": 1}' y=it\'s z="\"q\"" """));
        Assert.Empty(ShellTokenizer.Split("   "));
        Assert.Throws<UsageException>(() => ShellTokenizer.Split("a 'b"));
        Assert.Throws<UsageException>(() => ShellTokenizer.Split("a \"b"));
    }

    [Fact]
    public void First_word_completes_to_commands_and_shell_words()
    {
        var completer = new Completer(TestSchema.Load());
        Assert.Equal(["blockdev-add"], completer.Complete("blo").Candidates);
        Assert.Equal(["events", "exit"], completer.Complete("e").Candidates);
        Assert.Equal(["query-x"], completer.Complete("help q").Candidates);
        Assert.Equal(0, completer.Complete("blo").Start);
    }

    [Fact]
    public void Argument_names_follow_the_union_tag_and_nesting()
    {
        var completer = new Completer(TestSchema.Load());
        // No tag yet: members of every variant are offered. Objects and lists complete without '='
        // (a dot follows); alternates with a scalar branch (file, backing) take one.
        Assert.Equal(["backing=", "cache", "driver=", "file=", "node-name=", "ratio=", "read-only=", "size=", "tags"], completer.Complete("blockdev-add ").Candidates);
        // The tag typed: only that variant's members; members already given are not offered again.
        Assert.Equal(["cache", "node-name=", "read-only=", "size="], completer.Complete("blockdev-add driver=null-co ").Candidates);
        Assert.Equal(["cache.direct="], completer.Complete("blockdev-add driver=null-co cache.").Candidates);
        // Through an alternate's object branch.
        Assert.Equal(["file.size="], completer.Complete("blockdev-add driver=qcow2 file.driver=null-co file.s").Candidates);
        var (start, candidates) = completer.Complete("blockdev-add node-name=x ");
        Assert.Equal("blockdev-add node-name=x ".Length, start);
        Assert.DoesNotContain("node-name=", candidates);
    }

    [Fact]
    public void Values_complete_for_enums_and_booleans()
    {
        var completer = new Completer(TestSchema.Load());
        var (start, candidates) = completer.Complete("blockdev-add driver=q");
        Assert.Equal("blockdev-add driver=".Length, start);
        Assert.Equal(["qcow2"], candidates);
        Assert.Equal(["false", "true"], completer.Complete("blockdev-add read-only=").Candidates);
        Assert.Empty(completer.Complete("blockdev-add node-name=").Candidates);
        Assert.Empty(completer.Complete("no-such-command a").Candidates);
    }

    [Fact]
    public void Common_prefix()
    {
        Assert.Equal("query-", Completer.CommonPrefix(["query-jobs", "query-version"]));
        Assert.Equal("", Completer.CommonPrefix([]));
    }

    [Fact]
    public void History_skips_repeats_keeps_the_newest_and_persists()
    {
        string file = Path.Combine(Path.GetTempPath(), $"blockctl-history-{Guid.NewGuid():N}");
        try
        {
            var history = new History(file);
            history.Add("a");
            history.Add("a");
            history.Add(" ");
            for (int i = 0; i < History.Capacity + 5; i++)
            {
                history.Add("cmd " + i);
            }
            Assert.Equal(History.Capacity, history.Lines.Count);
            Assert.Equal("cmd " + (History.Capacity + 4), history.Lines[^1]);
            history.Save();
            var reloaded = new History(file);
            Assert.Equal(history.Lines, reloaded.Lines);
        }
        finally
        {
            File.Delete(file);
        }
    }
}
