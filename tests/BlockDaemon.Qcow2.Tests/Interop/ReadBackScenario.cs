namespace BlockDaemon.Qcow2.Tests.Interop;

/// <summary>An image QEMU builds for <see cref="ReadBackTests"/>, and how to open and check it.</summary>
/// <param name="Name">The theory's data row.</param>
/// <param name="ClusterSize">Of the top image; for locating differences.</param>
/// <param name="Build">Creates the image(s) in a directory and returns the top image's path.</param>
/// <param name="ReadOnly">Open read-only (a dirty image QEMU would repair first).</param>
/// <param name="CheckAfterClose">Run `qemu-img check` once our driver has closed the image.</param>
internal sealed record ReadBackScenario(
    string Name,
    int ClusterSize,
    Func<string, CancellationToken, Task<string>> Build,
    bool ReadOnly = false,
    bool CheckAfterClose = true);
