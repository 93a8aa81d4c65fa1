namespace BlockDaemon.IoTests.Running;

public enum TestStatus
{
    Pass,
    Fail,
    Skip,
}

/// <summary>
/// The result of one transcript run: its status, the filtered output, and why it failed or was
/// skipped (a failed step, or the diff against the golden file).
/// </summary>
public sealed record TestOutcome(TestStatus Status, string Output, string Message)
{
    public static TestOutcome Skipped(string reason) => new(TestStatus.Skip, string.Empty, reason);
}
