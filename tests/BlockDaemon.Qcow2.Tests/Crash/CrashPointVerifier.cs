using BlockDaemon.TestKit;
using BlockDaemon.Qcow2.Tests.Interop;

namespace BlockDaemon.Qcow2.Tests.Crash;

/// <summary>
/// Checks one post-crash image file: `qemu-img check` finds nothing but leaks (a dirty image
/// must first be repaired by `qemu-img check -r all`), and both QEMU (`qemu-img convert -O raw`)
/// and our driver read a guest view the <see cref="GuestExpectation"/> allows, the same one.
/// </summary>
internal sealed class CrashPointVerifier(string dir)
{
    private readonly string _image = Path.Combine(dir, "crash.qcow2");

    private readonly HashSet<(string Hash, int DurableOps, int Unflushed)> _passed = [];

    /// <summary>Distinct images actually checked (the rest were repeats).</summary>
    public int Checked => _passed.Count;

    public string ImagePath => _image;

    /// <summary>Null when the image passes, else what failed.</summary>
    public async Task<string?> VerifyAsync(byte[] file, GuestExpectation expectation, CancellationToken ct)
    {
        // Many cut points leave the same file (nothing survived, or only a flush apart); a state
        // already passed under the same expectation need not be checked again.
        var key = (Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(file)), expectation.DurableOps, expectation.Unflushed.Count);
        if (_passed.Contains(key))
        {
            return null;
        }
        string? failure = await CheckAsync(file, expectation, ct);
        if (failure is null)
        {
            _passed.Add(key);
        }
        return failure;
    }

    private async Task<string?> CheckAsync(byte[] file, GuestExpectation expectation, CancellationToken ct)
    {
        await File.WriteAllBytesAsync(_image, file, ct);
        if (CrashImages.IsDirty(file))
        {
            var repair = await ExternalTools.RunAsync(ExternalTools.QemuImg, ["check", "-r", "all", "-f", "qcow2", _image], ct, 0, 1, 2, 3);
            if (repair.ExitCode is not (0 or 3))
            {
                return $"the image is dirty and `qemu-img check -r all` could not repair it (exit {repair.ExitCode}):\n{repair}";
            }
        }
        var check = await Qemu.CheckAsync(_image, ct);
        if (check.ExitCode is not (0 or 3))
        {
            return $"`qemu-img check` reports corruption (exit {check.ExitCode}):\n{check}";
        }
        byte[] qemuView;
        try
        {
            qemuView = await Qemu.ReadRawAsync(_image, ct);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return $"qemu-img convert could not read the image: {e.Message}";
        }
        if (expectation.Explain(qemuView, "QEMU (qemu-img convert)") is { } qemuWrong)
        {
            return qemuWrong;
        }
        byte[] ourView;
        try
        {
            await using var ours = await OurImage.OpenAsync(_image, ct, readOnly: true);
            ourView = new byte[ours.Length];
            for (int offset = 0; offset < ourView.Length; offset += 1 << 20)
            {
                await ours.Edge.ReadAsync(offset, ourView.AsMemory(offset, Math.Min(1 << 20, ourView.Length - offset)), ct);
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return $"our driver could not read the image: {e.Message}";
        }
        if (expectation.Explain(ourView, "our driver") is { } oursWrong)
        {
            return oursWrong;
        }
        if (!ourView.AsSpan().SequenceEqual(qemuView))
        {
            int at = ourView.AsSpan().CommonPrefixLength(qemuView);
            return $"our driver and QEMU read different guest views (both allowed), first difference at byte {at}";
        }
        return null;
    }
}
