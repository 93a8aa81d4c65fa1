using BlockDaemon.Jobs.Copy;

namespace BlockDaemon.Jobs.Tests;

public sealed class RateLimiterTests
{
    private sealed class ManualTime : TimeProvider
    {
        public long Ticks { get; set; }
        public override long TimestampFrequency => TimeSpan.TicksPerSecond;
        public override long GetTimestamp() => Ticks;
        public void Advance(TimeSpan by) => Ticks += by.Ticks;
    }

    [Fact]
    public void Unlimited_never_waits()
    {
        var limiter = new RateLimiter(new ManualTime());
        limiter.Account(1L << 40);
        Assert.Equal(TimeSpan.Zero, limiter.Delay());
    }

    [Fact]
    public void Bytes_sent_are_paid_for_at_the_speed()
    {
        var time = new ManualTime();
        var limiter = new RateLimiter(time) { Speed = 1 << 20 };
        Assert.Equal(TimeSpan.Zero, limiter.Delay());
        limiter.Account(4 << 20);
        Assert.Equal(TimeSpan.FromSeconds(4), limiter.Delay());
        time.Advance(TimeSpan.FromSeconds(3));
        Assert.Equal(TimeSpan.FromSeconds(1), limiter.Delay());
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(TimeSpan.Zero, limiter.Delay());
    }

    [Fact]
    public void Idle_time_is_not_spent_as_a_burst()
    {
        var time = new ManualTime();
        var limiter = new RateLimiter(time) { Speed = 1 << 20 };
        time.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal(TimeSpan.Zero, limiter.Delay());
        limiter.Account(2 << 20);
        Assert.Equal(TimeSpan.FromSeconds(2), limiter.Delay());
    }

    [Fact]
    public void A_new_speed_prices_what_was_already_sent()
    {
        var time = new ManualTime();
        var limiter = new RateLimiter(time) { Speed = 1 << 20 };
        limiter.Account(2 << 20);
        time.Advance(TimeSpan.FromSeconds(1));
        limiter.Speed = 2 << 20;
        limiter.Account(2 << 20);
        // 4 MiB at 2 MiB/s are due 2 s after the start, one of which has passed.
        Assert.Equal(TimeSpan.FromSeconds(1), limiter.Delay());
        limiter.Speed = 512 << 10;
        Assert.Equal(TimeSpan.FromSeconds(7), limiter.Delay());
        limiter.Speed = 0;
        Assert.Equal(TimeSpan.Zero, limiter.Delay());
    }

    [Fact]
    public void A_limit_on_an_unlimited_job_starts_a_fresh_account()
    {
        var time = new ManualTime();
        var limiter = new RateLimiter(time);
        limiter.Account(64 << 20);
        limiter.Speed = 1 << 20;
        Assert.Equal(TimeSpan.Zero, limiter.Delay());
        limiter.Account(1 << 20);
        Assert.Equal(TimeSpan.FromSeconds(1), limiter.Delay());
    }
}
