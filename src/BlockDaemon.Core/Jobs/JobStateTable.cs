namespace BlockDaemon.Core.Jobs;

/// <summary>
/// QEMU 7.2 job.c's JobSTT (which status may follow which) and JobVerbTable (which verbs a
/// status accepts), transcribed row by row so they can be compared with job.c by eye.
/// </summary>
public static class JobStateTable
{
    // Columns:                          U  C  R  P  Y  S  W  D  X  E  N
    private static readonly bool[][] Transitions =
    [
        /* U: undefined */ Row(0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0),
        /* C: created   */ Row(0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 1),
        /* R: running   */ Row(0, 0, 0, 1, 1, 0, 1, 0, 1, 0, 0),
        /* P: paused    */ Row(0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0),
        /* Y: ready     */ Row(0, 0, 0, 0, 0, 1, 1, 0, 1, 0, 0),
        /* S: standby   */ Row(0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0),
        /* W: waiting   */ Row(0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0),
        /* D: pending   */ Row(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0),
        /* X: aborting  */ Row(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0),
        /* E: concluded */ Row(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1),
        /* N: null      */ Row(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
    ];

    // Columns:                          U  C  R  P  Y  S  W  D  X  E  N
    private static readonly bool[][] Verbs =
    [
        /* cancel    */ Row(0, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0),
        /* pause     */ Row(0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0),
        /* resume    */ Row(0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0),
        /* set-speed */ Row(0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0),
        /* complete  */ Row(0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0),
        /* dismiss   */ Row(0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0),
        /* finalize  */ Row(0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0),
    ];

    public static bool CanTransition(JobStatus from, JobStatus to) => Transitions[(int)from][(int)to];

    public static bool Accepts(JobStatus status, JobVerb verb) => Verbs[(int)verb][(int)status];

    private static bool[] Row(params int[] cells) => cells.Select(c => c != 0).ToArray();
}
