using BlockDaemon.Core.Drivers.Blkdebug;
using BlockDaemon.Core.Io;

namespace BlockDaemon.Core.Tests.Drivers;

/// <summary>The blkdebug rule engine alone: arming, states, sectors, request types, once.</summary>
public sealed class BlkdebugRulesTests
{
    private static BlkdebugRule Inject(DebugEvent e, long state = 0, int errno = 5, long offset = -1,
        BlkdebugIoType types = BlkdebugIoType.Default, bool once = false) =>
        new() { Event = e, State = state, Errno = errno, Offset = offset, IoTypes = types, Once = once };

    private static BlkdebugRule SetState(DebugEvent e, long state, long newState) =>
        new() { Event = e, State = state, NewState = newState };

    [Fact]
    public void Nothing_fails_before_the_event_arms_the_rule()
    {
        var rules = new BlkdebugRules([Inject(DebugEvent.ReadAio)]);
        Assert.Null(rules.Check(0, 512, BlkdebugIoType.Read));
        rules.OnEvent(DebugEvent.WriteAio);
        Assert.Null(rules.Check(0, 512, BlkdebugIoType.Read));
        rules.OnEvent(DebugEvent.ReadAio);
        Assert.Equal(5, rules.Check(0, 512, BlkdebugIoType.Read)!.Errno);
    }

    [Fact]
    public void An_armed_rule_stays_armed_across_events_without_injection_rules()
    {
        var rules = new BlkdebugRules([Inject(DebugEvent.ReadAio)]);
        rules.OnEvent(DebugEvent.ReadAio);
        rules.OnEvent(DebugEvent.WriteAio);
        Assert.NotNull(rules.Check(0, 512, BlkdebugIoType.Write));
        Assert.NotNull(rules.Check(0, 0, BlkdebugIoType.Flush));
        Assert.Null(rules.Check(0, 512, BlkdebugIoType.BlockStatus));
    }

    [Fact]
    public void Another_event_with_injection_rules_replaces_the_armed_set()
    {
        var rules = new BlkdebugRules([Inject(DebugEvent.ReadAio, errno: 5), Inject(DebugEvent.WriteAio, errno: 28, types: BlkdebugIoType.Write)]);
        rules.OnEvent(DebugEvent.ReadAio);
        rules.OnEvent(DebugEvent.WriteAio);
        Assert.Null(rules.Check(0, 512, BlkdebugIoType.Read));
        Assert.Equal(28, rules.Check(0, 512, BlkdebugIoType.Write)!.Errno);
    }

    [Fact]
    public void A_sector_rule_fails_only_requests_that_cover_it()
    {
        var rules = new BlkdebugRules([Inject(DebugEvent.Pwritev, offset: 256 * 512)]);
        rules.OnEvent(DebugEvent.Pwritev);
        Assert.Null(rules.Check(0, 4096, BlkdebugIoType.Write));
        Assert.Null(rules.Check(256 * 512 + 1, 4096, BlkdebugIoType.Write));
        Assert.NotNull(rules.Check(126 * 1024, 4096, BlkdebugIoType.Write));
        Assert.NotNull(rules.Check(128 * 1024, 1, BlkdebugIoType.Write));
        Assert.Null(rules.Check(128 * 1024, 0, BlkdebugIoType.Flush));
    }

    [Fact]
    public void A_once_rule_fails_one_request_and_is_gone_for_good()
    {
        var rules = new BlkdebugRules([Inject(DebugEvent.WriteAio, errno: 28, once: true)]);
        rules.OnEvent(DebugEvent.WriteAio);
        Assert.NotNull(rules.Check(0, 512, BlkdebugIoType.Write));
        Assert.Null(rules.Check(0, 512, BlkdebugIoType.Write));
        rules.OnEvent(DebugEvent.WriteAio);
        Assert.Null(rules.Check(0, 512, BlkdebugIoType.Write));
    }

    [Fact]
    public void States_start_at_one_and_gate_the_rules()
    {
        var rules = new BlkdebugRules([Inject(DebugEvent.ReadAio, state: 2), SetState(DebugEvent.WriteAio, 1, 2), SetState(DebugEvent.WriteAio, 2, 3)]);
        Assert.Equal(1, rules.State);
        rules.OnEvent(DebugEvent.ReadAio);
        Assert.Null(rules.Check(0, 512, BlkdebugIoType.Read));
        rules.OnEvent(DebugEvent.WriteAio);
        Assert.Equal(2, rules.State);
        rules.OnEvent(DebugEvent.ReadAio);
        Assert.NotNull(rules.Check(0, 512, BlkdebugIoType.Read));
        rules.OnEvent(DebugEvent.WriteAio);
        Assert.Equal(3, rules.State);
    }

    [Fact]
    public void Errno_zero_arms_a_rule_that_lets_matching_requests_through()
    {
        var rules = new BlkdebugRules([Inject(DebugEvent.ReadAio, errno: 0), Inject(DebugEvent.ReadAio, errno: 5)]);
        rules.OnEvent(DebugEvent.ReadAio);
        Assert.Null(rules.Check(0, 512, BlkdebugIoType.Read));
    }

    [Theory]
    [InlineData("read_aio", DebugEvent.ReadAio)]
    [InlineData("pwritev_rmw_after_tail", DebugEvent.PwritevRmwAfterTail)]
    [InlineData("none", DebugEvent.None)]
    public void Event_names_are_the_schema_names(string name, DebugEvent e)
    {
        Assert.Equal(e, DebugEvents.Parse(name));
        Assert.Equal(name, e.SchemaName());
    }
}
