using Xunit;

namespace BlockDaemon.CommandLine.Tests;

/// <summary>--monitor, --object and -T; messages recorded from qsd 7.2.</summary>
public sealed class MonitorObjectTraceTests
{
    [Fact]
    public void Monitor_defaults_to_control_mode()
    {
        MonitorOption monitor = Qsd.Single<MonitorOption>("--monitor", "qmp0");
        Assert.Equal(("qmp0", "control", false, (string?)null, "--monitor qmp0"), (monitor.Chardev, monitor.Mode, monitor.Pretty, monitor.Id, monitor.Location));
        MonitorOption full = Qsd.Single<MonitorOption>("--monitor=chardev=c,mode=readline,pretty=yes,id=m");
        Assert.Equal(("c", "readline", true, "m"), (full.Chardev, full.Mode, full.Pretty, full.Id));
    }

    [Theory]
    [InlineData("", "Parameter 'chardev' is missing")]
    [InlineData("help", "Help is not available for this option")]
    [InlineData("nosuch,pretty", "Expected '=' after parameter 'pretty'")]
    [InlineData("mode=bogus", "Parameter 'mode' does not accept value 'bogus'")]
    [InlineData("x=1,mode=bogus", "Parameter 'mode' does not accept value 'bogus'")]
    [InlineData("nosuch,pretty=maybe", "Parameter 'pretty' expects 'on' or 'off'")]
    [InlineData("nosuch,x=1", "Parameter 'x' is unexpected")]
    [InlineData("x.a=1,chardev=x", "Parameter 'x' is unexpected")]
    [InlineData("chardev.a=1", "Parameters 'chardev.*' are unexpected")]
    [InlineData("chardev.0=a", "Parameters 'chardev.*' are unexpected")]
    [InlineData("chardev.a=1,mode=bogus", "Parameter 'mode' does not accept value 'bogus'")]
    [InlineData("pretty.a=1,chardev=x", "Parameters 'pretty.*' are unexpected")]
    [InlineData("chardev=x,id.a=1", "Parameters 'id.*' are unexpected")]
    [InlineData("{\"chardev\":1}", "Invalid parameter type for 'chardev', expected: string")]
    [InlineData("{\"chardev\":\"x\",\"mode\":1}", "Invalid parameter type for 'mode', expected: string")]
    [InlineData("{\"chardev\":\"x\",\"mode\":\"bogus\"}", "Parameter 'mode' does not accept value 'bogus'")]
    [InlineData("{\"chardev\":\"x\",\"pretty\":\"on\"}", "Invalid parameter type for 'pretty', expected: boolean")]
    [InlineData("{\"chardev\":\"x\",\"id\":null}", "Invalid parameter type for 'id', expected: string")]
    [InlineData("{\"chardev\":\"x\",\"x\":1}", "Parameter 'x' is unexpected")]
    public void Monitor_errors_match_qsd(string argument, string message)
    {
        Assert.Equal(message, Qsd.Fails("--monitor", argument).Detail);
    }

    [Fact]
    public void Object_splits_off_qom_type_and_keeps_strings()
    {
        ObjectOption obj = Qsd.Single<ObjectOption>("--object", "iothread,id=io0,poll-max-ns=0");
        Assert.Equal("iothread", obj.QomType);
        Assert.True(obj.FromKeyval);
        Assert.Equal("""{"id":"io0","poll-max-ns":"0"}""", obj.Properties.ToJsonString());
    }

    [Theory]
    [InlineData("", "Parameter 'qom-type' is missing")]
    [InlineData("id=x", "Parameter 'qom-type' is missing")]
    [InlineData("{\"id\":\"x\"}", "Parameter 'qom-type' is missing")]
    [InlineData("qom-type.a=1", "Parameters 'qom-type.*' are unexpected")]
    [InlineData("{\"qom-type\":1}", "Invalid parameter type for 'qom-type', expected: string")]
    public void Object_errors_match_qsd(string argument, string message)
    {
        Assert.Equal(message, Qsd.Fails("--object", argument).Detail);
    }

    [Fact]
    public void Trace_parses_pattern_events_and_file()
    {
        TraceOption trace = Qsd.Single<TraceOption>("--trace", "nbd_*,events=/e,file=/f");
        Assert.Equal(("nbd_*,events=/e,file=/f", "nbd_*", "/e", "/f"), (trace.Spec, trace.Enable, trace.Events, trace.File));
        Assert.False(trace.IsEventListRequest);
        Assert.True(Qsd.Single<TraceOption>("-T", "help").IsEventListRequest);
        Assert.Equal("x", Qsd.Single<TraceOption>("-T", "enable=x,id=t").Enable);
    }

    [Fact]
    public void Trace_errors_and_help_match_qsd()
    {
        Assert.Equal("-T foo,bar=1: Invalid parameter 'bar'", Qsd.Fails("-T", "foo,bar=1").Message);
        Assert.Equal("-Tfoo,bar=1: Invalid parameter 'bar'", Qsd.Fails("-Tfoo,bar=1").Message);
        Assert.Equal("Parameter 'id' expects an identifier", Qsd.Fails("-T", "id=1x").Detail);
        PrintHelpOption help = Qsd.Single<PrintHelpOption>("-T", "foo,help");
        Assert.Equal(("trace options:\n  enable=<str>\n  events=<str>\n  file=<str>\n", 1), (help.Text, help.ExitCode));
    }
}
