namespace BlockDaemon.Qcow2.Tests.Malformed;

/// <summary>
/// The directory one malformed image (and its backing files) is built in, with the qemu-img and
/// qemu-io calls the builders need. The directory belongs to the caller.
/// </summary>
internal sealed class ImageWorkspace(string directory)
{
    public string Directory { get; } = directory;

    public string this[string name] => Path.Combine(Directory, name);

    /// <summary>qemu-img create -f qcow2 [-o options] [-u -b backing -F qcow2] name size.</summary>
    public async Task<ImageEditor> CreateAsync(string name, CancellationToken ct, string size = "64M", string? options = null, string? backing = null)
    {
        var args = new List<string> { "create", "-q", "-f", "qcow2" };
        if (options is not null)
        {
            args.AddRange(["-o", options]);
        }
        if (backing is not null)
        {
            args.AddRange(["-u", "-b", backing, "-F", "qcow2"]);
        }
        args.AddRange([this[name], size]);
        await QemuTools.CheckedAsync(QemuTools.QemuImg, args, ct);
        return new ImageEditor(this[name]);
    }

    /// <summary>A 64 MiB image whose first cluster holds 0x5a: L1 entry 0, one L2 table and one data cluster exist.</summary>
    public async Task<ImageEditor> CreateWithDataAsync(string name, CancellationToken ct, string? options = null)
    {
        var image = await CreateAsync(name, ct, options: options);
        await QemuIoAsync(image.Path, "write -P 0x5a 0 64k", ct);
        return image;
    }

    public Task QemuIoAsync(string path, string command, CancellationToken ct) =>
        QemuTools.CheckedAsync(QemuTools.QemuIo, ["-f", "qcow2", "-c", command, path], ct);

    public ImageEditor Copy(string from, string to)
    {
        File.Copy(this[from], this[to], overwrite: true);
        return new ImageEditor(this[to]);
    }

    public string WriteFile(string name, byte[] content)
    {
        File.WriteAllBytes(this[name], content);
        return this[name];
    }
}
