namespace BlockDaemon.Qcow2.Tests.Driver;

/// <summary>
/// Tests that measure the process (GC.GetTotalAllocatedBytes counts every thread) run in this
/// collection, which xunit runs on its own, after the parallel ones, so other tests' allocations
/// do not count against them.
/// </summary>
[CollectionDefinition(nameof(MeasuredAloneCollection), DisableParallelization = true)]
public sealed class MeasuredAloneCollection;
