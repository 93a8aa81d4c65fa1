using BlockDaemon.Qmp.Transactions;

namespace BlockDaemon.Qmp.Tests.Transactions;

/// <summary>The transaction protocol: prepare in order, commit all or abort the begun ones newest first, clean all.</summary>
public sealed class TransactionRunnerTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task All_prepared_actions_commit_then_clean_in_order()
    {
        var log = new List<string>();
        await TransactionRunner.RunAsync([new Recording("a", log), new Recording("b", log)], Ct);
        Assert.Equal(["prepare a", "prepare b", "commit a", "commit b", "clean a", "clean b"], log);
    }

    [Fact]
    public async Task A_failing_prepare_aborts_every_begun_action_newest_first_including_itself()
    {
        var log = new List<string>();
        var made = new List<string>();
        IEnumerable<ITransactionAction> Actions()
        {
            foreach (var name in new[] { "a", "b", "c" })
            {
                made.Add(name);
                yield return new Recording(name, log, fail: name == "b");
            }
        }

        var e = await Assert.ThrowsAsync<QmpException>(async () => await TransactionRunner.RunAsync(Actions(), Ct));
        Assert.Equal("b failed", e.Message);
        Assert.Equal(["a", "b"], made);
        Assert.Equal(["prepare a", "prepare b", "abort b", "abort a", "clean a", "clean b"], log);
    }

    [Fact]
    public async Task The_abort_action_fails_with_qsd_words()
    {
        var e = await Assert.ThrowsAsync<QmpException>(async () => await TransactionRunner.RunAsync([new AbortAction()], Ct));
        Assert.Equal("Transaction aborted using Abort action", e.Message);
    }

    private sealed class Recording(string name, List<string> log, bool fail = false) : ITransactionAction
    {
        public ValueTask PrepareAsync(CancellationToken ct)
        {
            log.Add("prepare " + name);
            return fail ? throw QmpException.Generic(name + " failed") : ValueTask.CompletedTask;
        }

        public ValueTask CommitAsync(CancellationToken ct)
        {
            log.Add("commit " + name);
            return ValueTask.CompletedTask;
        }

        public ValueTask AbortAsync(CancellationToken ct)
        {
            log.Add("abort " + name);
            return ValueTask.CompletedTask;
        }

        public ValueTask CleanAsync(CancellationToken ct)
        {
            log.Add("clean " + name);
            return ValueTask.CompletedTask;
        }
    }
}
