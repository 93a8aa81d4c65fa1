using System.Security.Cryptography;
using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Options;
using BlockDaemon.TestKit;

namespace BlockDaemon.Qcow2.Tests.Malformed;

/// <summary>
/// Opens every image of the malformed corpus through the block graph. An image blockd refuses
/// must fail to open with the expected message; an image it opens must survive a read and a
/// write, each either succeeding or failing with a BlockException, with no file but the image
/// changed. Nothing may hang (10 s each) or throw anything but a BlockException.
/// </summary>
public sealed class MalformedImageTests : IDisposable
{
    private const string BackingPrefix = "Could not open backing file: ";
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(10);

    private readonly TempDirectory _dir = new("blockd-malformed-");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static TheoryData<string> Refused => Names(c => c.OursRefuses is not null);

    public static TheoryData<string> Opened => Names(c => c.OursRefuses is null);

    public void Dispose() => _dir.Dispose();

    [Theory]
    [MemberData(nameof(Refused))]
    public async Task A_malformed_image_that_must_be_refused_fails_to_open_with_the_expected_message(string name)
    {
        var image = MalformedImages.Get(name);
        var top = await BuildAsync(image);
        var before = Snapshot(except: null);

        var error = await WithinLimitAsync(name, async () =>
        {
            await using var g = NewGraph();
            try
            {
                await g.AddAsync(Options(top.Path, image.ReadOnly), Ct);
                return null;
            }
            catch (BlockException e)
            {
                return e;
            }
        });

        Assert.True(error is not null, $"{name}: blockd opened an image it must refuse ({image.Patch})");
        string expected = image.ExpectedOpenError(_dir.Path)!;
        string actual = error.Message;
        if (image.InBackingChain)
        {
            Assert.True(actual.StartsWith(BackingPrefix, StringComparison.Ordinal) || actual == expected,
                $"{name}: expected \"{expected}\" (after \"{BackingPrefix}\" prefixes), got \"{actual}\"");
            while (actual.StartsWith(BackingPrefix, StringComparison.Ordinal))
            {
                actual = actual[BackingPrefix.Length..];
            }
        }
        Assert.Equal(expected, actual);
        AssertUnchanged(before, Snapshot(except: null));
    }

    [Theory]
    [MemberData(nameof(Opened))]
    public async Task A_malformed_image_that_opens_survives_a_read_and_a_write_without_touching_other_files(string name)
    {
        var image = MalformedImages.Get(name);
        var top = await BuildAsync(image);
        var others = Snapshot(except: top.Path);
        byte[] imageBefore = File.ReadAllBytes(top.Path);

        var (read, write, close) = await WithinLimitAsync(name, async () =>
        {
            var g = NewGraph();
            BlockException? readError, writeError, closeError;
            try
            {
                (readError, writeError) = await ReadAndWriteAsync(g, image, top.Path);
            }
            finally
            {
                // Closing flushes; a BlockException there is an outcome like any other.
                closeError = await AttemptAsync(async () => await g.DisposeAsync());
            }
            return (readError, writeError, closeError);
        });

        string? damage = image.AfterIo?.Invoke(top, imageBefore);
        if (image.OursWriteFails)
        {
            Assert.True(write is not null, $"{name}: the write succeeded ({damage ?? "metadata intact"}); it must fail ({image.Why})");
        }
        AssertUnchanged(others, Snapshot(except: top.Path));
        Assert.True(damage is null, $"{name}: {damage} (read: {read?.Message ?? "ok"}, write: {write?.Message ?? "ok"}, close: {close?.Message ?? "ok"})");
    }

    private static async Task<(BlockException? Read, BlockException? Write)> ReadAndWriteAsync(TestGraph g, MalformedImage image, string path)
    {
        try
        {
            await g.AddAsync(Options(path, image.ReadOnly), Ct);
        }
        catch (BlockException e)
        {
            Assert.Fail($"{image.Name}: blockd refused an image qsd opens ({image.Patch}): {e.Message}");
        }
        var perm = image.ReadOnly ? BlockPermissions.ConsistentRead : BlockPermissions.ConsistentRead | BlockPermissions.Write;
        var edge = g.Attach("q", perm);
        var readError = await AttemptAsync(async () =>
            await edge.ReadAsync(image.Read.Offset, new byte[image.Read.Length], Ct));
        var pattern = new byte[image.Write.Length];
        Array.Fill(pattern, (byte)0xa5);
        var writeError = await AttemptAsync(async () =>
        {
            await edge.WriteAsync(image.Write.Offset, pattern, ct: Ct);
            await edge.FlushAsync(Ct);
        });
        return (readError, writeError);
    }

    private static TheoryData<string> Names(Func<MalformedImage, bool> filter)
    {
        var data = new TheoryData<string>();
        foreach (var c in MalformedImages.All.Where(filter))
        {
            data.Add(c.Name);
        }
        return data;
    }

    private static TestGraph NewGraph()
    {
        var g = new TestGraph();
        g.Graph.RegisterDriver(new Qcow2DriverFactory());
        return g;
    }

    private static OptionDict Options(string path, bool readOnly) => readOnly
        ? Opt.Node("qcow2", "q", ("file", Opt.File(path)), ("read-only", true))
        : Opt.Node("qcow2", "q", ("file", Opt.File(path)));

    private async Task<ImageEditor> BuildAsync(MalformedImage image)
    {
        if (QemuTools.Find(QemuTools.QemuImg) is null || QemuTools.Find(QemuTools.QemuIo) is null)
        {
            Assert.Skip("qemu-img and qemu-io are needed to build the malformed images");
        }
        return await image.Build(new ImageWorkspace(_dir.Path), Ct);
    }

    /// <summary>Runs the body under the time limit; a hang fails the test instead of blocking the run.</summary>
    private static async Task<T> WithinLimitAsync<T>(string name, Func<Task<T>> body)
    {
        try
        {
            return await Task.Run(body, Ct).WaitAsync(Limit, Ct);
        }
        catch (TimeoutException)
        {
            Assert.Fail($"{name}: no result within {Limit.TotalSeconds} s (hang)");
            throw;
        }
    }

    /// <summary>A BlockException is an acceptable outcome and is returned; anything else fails the test.</summary>
    private static async Task<BlockException?> AttemptAsync(Func<Task> io)
    {
        try
        {
            await io();
            return null;
        }
        catch (BlockException e)
        {
            return e;
        }
    }

    private Dictionary<string, string> Snapshot(string? except)
    {
        var files = new Dictionary<string, string>();
        foreach (var file in Directory.EnumerateFiles(_dir.Path, "*", SearchOption.AllDirectories))
        {
            if (file != except)
            {
                using var stream = File.OpenRead(file);
                files[file] = Convert.ToHexString(SHA256.HashData(stream));
            }
        }
        return files;
    }

    private static void AssertUnchanged(Dictionary<string, string> before, Dictionary<string, string> after)
    {
        var changed = before.Keys.Union(after.Keys)
            .Where(f => !before.TryGetValue(f, out var b) || !after.TryGetValue(f, out var a) || a != b)
            .Order(StringComparer.Ordinal)
            .ToList();
        Assert.True(changed.Count == 0, "Files outside the image changed, appeared or vanished: " + string.Join(", ", changed));
    }
}
