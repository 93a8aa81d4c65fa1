using BlockDaemon.Core.Jobs;

namespace BlockDaemon.Core.Tests.Jobs;

/// <summary>The tables against QEMU 7.2's job.c, written out independently as lists.</summary>
public sealed class JobStateTableTests
{
    private static readonly Dictionary<JobStatus, JobStatus[]> AllowedTransitions = new()
    {
        [JobStatus.Undefined] = [JobStatus.Created],
        [JobStatus.Created] = [JobStatus.Running, JobStatus.Aborting, JobStatus.Null],
        [JobStatus.Running] = [JobStatus.Paused, JobStatus.Ready, JobStatus.Waiting, JobStatus.Aborting],
        [JobStatus.Paused] = [JobStatus.Running],
        [JobStatus.Ready] = [JobStatus.Standby, JobStatus.Waiting, JobStatus.Aborting],
        [JobStatus.Standby] = [JobStatus.Ready],
        [JobStatus.Waiting] = [JobStatus.Pending, JobStatus.Aborting],
        [JobStatus.Pending] = [JobStatus.Aborting, JobStatus.Concluded],
        [JobStatus.Aborting] = [JobStatus.Aborting, JobStatus.Concluded],
        [JobStatus.Concluded] = [JobStatus.Null],
        [JobStatus.Null] = [],
    };

    private static readonly Dictionary<JobVerb, JobStatus[]> AllowedVerbs = new()
    {
        [JobVerb.Cancel] = [JobStatus.Created, JobStatus.Running, JobStatus.Paused, JobStatus.Ready, JobStatus.Standby, JobStatus.Waiting, JobStatus.Pending],
        [JobVerb.Pause] = [JobStatus.Created, JobStatus.Running, JobStatus.Paused, JobStatus.Ready, JobStatus.Standby],
        [JobVerb.Resume] = [JobStatus.Created, JobStatus.Running, JobStatus.Paused, JobStatus.Ready, JobStatus.Standby],
        [JobVerb.SetSpeed] = [JobStatus.Created, JobStatus.Running, JobStatus.Paused, JobStatus.Ready, JobStatus.Standby],
        [JobVerb.Complete] = [JobStatus.Ready, JobStatus.Standby],
        [JobVerb.Dismiss] = [JobStatus.Concluded],
        [JobVerb.Finalize] = [JobStatus.Pending],
    };

    public static TheoryData<JobStatus, JobStatus> EveryPair()
    {
        var data = new TheoryData<JobStatus, JobStatus>();
        foreach (var from in Enum.GetValues<JobStatus>())
        {
            foreach (var to in Enum.GetValues<JobStatus>())
            {
                data.Add(from, to);
            }
        }
        return data;
    }

    public static TheoryData<JobVerb, JobStatus> EveryVerbInEveryState()
    {
        var data = new TheoryData<JobVerb, JobStatus>();
        foreach (var verb in Enum.GetValues<JobVerb>())
        {
            foreach (var status in Enum.GetValues<JobStatus>())
            {
                data.Add(verb, status);
            }
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(EveryPair))]
    public void Transitions_follow_job_c(JobStatus from, JobStatus to) =>
        Assert.Equal(AllowedTransitions[from].Contains(to), JobStateTable.CanTransition(from, to));

    [Theory]
    [MemberData(nameof(EveryVerbInEveryState))]
    public void Verbs_follow_job_c(JobVerb verb, JobStatus status) =>
        Assert.Equal(AllowedVerbs[verb].Contains(status), JobStateTable.Accepts(status, verb));

    [Fact]
    public void Names_are_qapi_names()
    {
        Assert.Equal("set-speed", JobVerb.SetSpeed.ToQapi());
        Assert.Equal("concluded", JobStatus.Concluded.ToQapi());
        Assert.Equal("snapshot-delete", JobType.SnapshotDelete.ToQapi());
    }
}
