using System.Text.Json.Nodes;
using BlockDaemon.Core.Drivers.File;
using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Jobs;

namespace BlockDaemon.Qmp.Commands;

/// <summary>
/// blockdev-create: like qsd, the command only picks the driver and creates the job (manual
/// dismiss); every other check happens in the job, whose error query-jobs reports.
/// </summary>
public static class BlockdevCreateCommand
{
    internal static void Register(CommandRegistry registry) => registry.Add("blockdev-create", BlockdevCreate);

    private static async Task<JsonNode?> BlockdevCreate(CommandContext context, JsonObject arguments)
    {
        var options = (JsonObject)arguments["options"]!;
        var driver = options["driver"]!.GetValue<string>() switch
        {
            "file" => new CreateJobDriver((_, ct) => FileCreator.CreateAsync(FileOptions(options), ct)),
            "qcow2" => new Qcow2CreateJob(context.Graph, options).CreateDriver(),
            _ => throw new BlockException(BlockErrorKind.NotSupported, "Driver does not support blockdev-create"),
        };
        var job = context.Jobs.Create(arguments["job-id"]!.GetValue<string>(), driver, JobFlags.ManualDismiss);
        await context.Jobs.StartAsync(job, context.ReplySent()).ConfigureAwait(false);
        return null;
    }

    private static FileCreateOptions FileOptions(JsonObject o) => new()
    {
        Filename = o["filename"]!.GetValue<string>(),
        Size = Uint64(o["size"]!),
        Preallocation = Prealloc(o["preallocation"]),
        NoCow = o["nocow"]?.GetValue<bool>() ?? false,
        ExtentSizeHint = o["extent-size-hint"] is { } hint ? unchecked((ulong)Uint64(hint)) : null,
    };

    internal static PreallocMode Prealloc(JsonNode? mode) => mode?.GetValue<string>() switch
    {
        null or "off" => PreallocMode.Off,
        "metadata" => PreallocMode.Metadata,
        "falloc" => PreallocMode.Falloc,
        _ => PreallocMode.Full,
    };

    /// <summary>A QAPI uint64/size: the walker lets negative values through, stored wrapped as QEMU does.</summary>
    internal static long Uint64(JsonNode value) =>
        value.AsValue().TryGetValue(out long l) ? l : unchecked((long)value.GetValue<ulong>());
}
