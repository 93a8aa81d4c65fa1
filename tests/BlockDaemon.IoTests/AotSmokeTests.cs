using BlockDaemon.IoTests.Daemon;
using BlockDaemon.IoTests.Running;
using BlockDaemon.TestKit;

namespace BlockDaemon.IoTests.Tests;

/// <summary>
/// The Native AOT binary, as shipped, against golden transcripts: trimming or AOT can break what
/// the JIT build gets right (reflection, embedded resources, native imports), so a few transcripts
/// covering each area run against the published binary too. The full set runs against the JIT
/// build in <see cref="TranscriptTests"/>; `BLOCKD=artifacts/aot/blockd iotests/check` runs
/// all of them against the AOT binary by hand.
/// </summary>
public sealed class AotSmokeTests
{
    private static readonly RepoLayout Layout = RepoLayout.Locate();

    [Theory]
    [InlineData("001-greeting")]             // QMP server, greeting, negotiation
    [InlineData("004-argument-validation")]  // schema walker and its error texts (embedded schema)
    [InlineData("007-query-qmp-schema")]     // introspection of the embedded schema
    [InlineData("018-cmdline-errors")]       // command-line parsing and exit codes
    [InlineData("022-qcow2-open")]           // qcow2 driver, file driver, image locks (native calls)
    [InlineData("052-nbd-export-clients")]   // NBD server and exports
    public async Task Transcript_matches_golden_on_the_native_aot_binary(string test)
    {
        string blockd = await AotBinary.GetAsync();
        var testCase = Assert.Single(TestCatalog.Select(TestCatalog.Discover(Layout.TestsDirectory), [test]));

        var outcome = await TranscriptRunner.CheckAsync(testCase, Layout.DefaultSettings(DaemonKind.Blockd) with { DaemonPath = blockd },
            TestContext.Current.CancellationToken);
        if (outcome.Status == TestStatus.Skip)
        {
            Assert.Skip(outcome.Message);
        }

        Assert.True(outcome.Status == TestStatus.Pass, $"{test} on the Native AOT blockd ({blockd}):\n{outcome.Message}");
    }
}
