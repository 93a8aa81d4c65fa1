namespace BlockDaemon.TestKit;

/// <summary>A fresh directory under the system temp directory, deleted with everything in it on dispose.</summary>
public sealed class TempDirectory : IDisposable
{
    public TempDirectory(string prefix = "blockd-test-")
    {
        Path = Directory.CreateTempSubdirectory(prefix).FullName;
    }

    public string Path { get; }

    public string this[string name] => System.IO.Path.Combine(Path, name);

    /// <summary>Creates (or replaces) a sparse file of <paramref name="size"/> bytes, like `truncate -s`.</summary>
    public string CreateFile(string name, long size)
    {
        string path = this[name];
        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write);
        stream.SetLength(size);
        return path;
    }

    /// <summary>Creates (or replaces) a file holding exactly <paramref name="content"/>.</summary>
    public string CreateFile(string name, ReadOnlySpan<byte> content)
    {
        string path = this[name];
        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write);
        stream.Write(content);
        return path;
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // A test that leaked a handle must not fail the run in cleanup; the OS temp reaper gets it.
        }
    }
}
