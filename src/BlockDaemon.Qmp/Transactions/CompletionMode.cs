namespace BlockDaemon.Qmp.Transactions;

/// <summary>ActionCompletionMode: how the jobs a transaction starts finish.</summary>
public enum CompletionMode
{
    Individual,
    Grouped,
}
