using BlockDaemon.Jobs.Copy;

namespace BlockDaemon.Jobs.Tests;

public sealed class DirtyTrackerTests
{
    [Fact]
    public void Writes_mark_whole_granules_and_runs_are_taken_once()
    {
        var tracker = new DirtyTracker(1 << 20, 64 << 10);
        var changed = tracker.Changed;
        tracker.Written(100, 10);
        tracker.Written((64 << 10) - 1, 2);
        tracker.Written(512 << 10, 1);
        Assert.True(changed.IsCompleted);
        Assert.Equal(3 * (64L << 10), tracker.DirtyBytes);

        Assert.Equal((0L, 128L << 10), tracker.TakeRun(0, long.MaxValue));
        Assert.Equal((512L << 10, 64L << 10), tracker.TakeRun(0, long.MaxValue));
        Assert.Null(tracker.TakeRun(0, long.MaxValue));
        Assert.Equal(0, tracker.DirtyBytes);
    }

    [Fact]
    public void The_last_granule_ends_at_the_image_end_and_writes_past_it_are_ignored()
    {
        var tracker = new DirtyTracker(100 << 10, 64 << 10);
        tracker.Written(90 << 10, 100 << 10);
        tracker.Written(200 << 10, 10);
        Assert.Equal((64L << 10, 36L << 10), tracker.TakeRun(0, long.MaxValue));
        Assert.Null(tracker.TakeRun(0, long.MaxValue));
    }
}
