using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using BlockDaemon.Nbd.Protocol;

namespace BlockDaemon.Nbd.Server;

/// <summary>
/// The server side of the fixed newstyle handshake, answering as qsd 7.2 does (see
/// shared/reference/nbd-probe-7.2.json): a bad option gets an error reply and negotiation goes
/// on; a broken frame closes the connection.
/// </summary>
internal sealed class NbdHandshake
{
    private readonly NbdFrameReader _reader;
    private readonly NbdReplyWriter _writer;
    private readonly NbdExportTable _exports;
    private bool _noZeroes;
    private bool _structured;
    // The SET_META_CONTEXT selection is only valid for the export it named.
    private string? _metaExport;
    private bool _baseAllocation;
    private List<(uint Id, NbdDirtyBitmapContext Context)> _dirtyBitmaps = [];

    public NbdHandshake(NbdFrameReader reader, NbdReplyWriter writer, NbdExportTable exports)
    {
        _reader = reader;
        _writer = writer;
        _exports = exports;
    }

    public NbdHandshakeState State { get; private set; } = NbdHandshakeState.AwaitingClientFlags;

    /// <summary>The agreed session, or null when the client aborted.</summary>
    public async ValueTask<NbdSession?> RunAsync(CancellationToken ct)
    {
        await _writer.WriteAsync(0, static (o, _) => NbdFrameWriter.WriteGreeting(o, NbdHandshakeFlags.FixedNewstyle | NbdHandshakeFlags.NoZeroes), ct)
            .ConfigureAwait(false);
        var greeting = await _reader.ReadAsync<NbdClientGreeting>(NbdClientGreeting.TryRead, ct).ConfigureAwait(false);
        if ((greeting.Flags & ~(NbdClientFlags.FixedNewstyle | NbdClientFlags.NoZeroes)) != 0)
        {
            NbdProtocolException.Throw($"Unknown client flags 0x{(uint)greeting.Flags:x}");
        }
        _noZeroes = (greeting.Flags & NbdClientFlags.NoZeroes) != 0;
        State = NbdHandshakeState.Negotiating;

        while (State == NbdHandshakeState.Negotiating)
        {
            var header = await _reader.ReadAsync<NbdOptionHeader>(NbdOptionHeader.TryRead, ct).ConfigureAwait(false);
            if (header.Length > NbdLimits.MaxOptionLength)
            {
                await ErrorAsync(header.Option, NbdOptionReplyType.ErrTooBig,
                    $"Option data of {header.Length} bytes is more than this server accepts ({NbdLimits.MaxOptionLength})", ct).ConfigureAwait(false);
                NbdProtocolException.Throw($"Option {header.Option} with {header.Length} bytes of data is too big to skip");
            }
            byte[] data = ArrayPool<byte>.Shared.Rent((int)header.Length);
            try
            {
                var payload = data.AsMemory(0, (int)header.Length);
                await _reader.ReadExactAsync(payload, ct).ConfigureAwait(false);
                var session = await HandleOptionAsync(header.Option, payload, ct).ConfigureAwait(false);
                if (session is not null)
                {
                    State = NbdHandshakeState.Transmission;
                    return session;
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(data);
            }
        }
        return null;
    }

    private async ValueTask<NbdSession?> HandleOptionAsync(uint option, ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        switch ((NbdOption)option)
        {
            case NbdOption.ExportName:
                return await ExportNameAsync(data, ct).ConfigureAwait(false);
            case NbdOption.Abort:
                State = NbdHandshakeState.Aborted;
                await AckAsync(option, ct).ConfigureAwait(false);
                return null;
            case NbdOption.List:
                await ListAsync(option, data, ct).ConfigureAwait(false);
                return null;
            case NbdOption.StartTls:
                await ErrorAsync(option, data.IsEmpty ? NbdOptionReplyType.ErrPolicy : NbdOptionReplyType.ErrInvalid,
                    data.IsEmpty ? "TLS not configured" : "NBD_OPT_STARTTLS must not carry data", ct).ConfigureAwait(false);
                return null;
            case NbdOption.Info:
            case NbdOption.Go:
                return await InfoAsync(option, data, ct).ConfigureAwait(false);
            case NbdOption.StructuredReply:
                await StructuredReplyAsync(option, data, ct).ConfigureAwait(false);
                return null;
            case NbdOption.ListMetaContext:
            case NbdOption.SetMetaContext:
                await MetaContextAsync(option, data, ct).ConfigureAwait(false);
                return null;
            default:
                // Includes EXTENDED_HEADERS and PEEK_EXPORT, which qsd 7.2 does not know either.
                await ErrorAsync(option, NbdOptionReplyType.ErrUnsup, $"Unsupported option {option}", ct).ConfigureAwait(false);
                return null;
        }
    }

    // There is no way to refuse EXPORT_NAME politely: an unknown name closes the connection.
    private async ValueTask<NbdSession> ExportNameAsync(ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        if (data.Length > NbdLimits.MaxString)
        {
            NbdProtocolException.Throw($"Export name of {data.Length} bytes is too long");
        }
        string name = Encoding.UTF8.GetString(data.Span);
        var export = _exports.Find(name) ?? throw new NbdProtocolException($"Export '{name}' not present");
        var flags = export.TransmissionFlags(_structured);
        ulong size = (ulong)export.Child.Length;
        bool noZeroes = _noZeroes;
        await _writer.WriteAsync((size, flags, noZeroes), static (o, s) => NbdFrameWriter.WriteExportNameReply(o, s.size, s.flags, s.noZeroes), ct)
            .ConfigureAwait(false);
        return Session(export);
    }

    private async ValueTask ListAsync(uint option, ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        if (!data.IsEmpty)
        {
            await ErrorAsync(option, NbdOptionReplyType.ErrInvalid, "NBD_OPT_LIST must not carry data", ct).ConfigureAwait(false);
            return;
        }
        var exports = _exports.All;
        await _writer.WriteAsync((option, exports), static (o, s) =>
        {
            foreach (var export in s.exports)
            {
                NbdFrameWriter.WriteServerReply(o, s.option, export.Name, export.Description);
            }
            NbdFrameWriter.WriteOptionReply(o, s.option, NbdOptionReplyType.Ack, default);
        }, ct).ConfigureAwait(false);
    }

    // qemu's order: NAME (if asked), DESCRIPTION (if there is one), BLOCK_SIZE, EXPORT, ACK.
    private async ValueTask<NbdSession?> InfoAsync(uint option, ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        if (!NbdInfoRequest.TryParse(data.Span, out var request, out string error))
        {
            await ErrorAsync(option, NbdOptionReplyType.ErrInvalid, error, ct).ConfigureAwait(false);
            return null;
        }
        if (_exports.Find(request!.ExportName) is not { } export)
        {
            await ErrorAsync(option, NbdOptionReplyType.ErrUnknown, $"Export '{request.ExportName}' not present", ct).ConfigureAwait(false);
            return null;
        }
        bool sendName = request.Requests.Contains(NbdInfoType.Name);
        var flags = export.TransmissionFlags(_structured);
        await _writer.WriteAsync((option, export, sendName, flags), static (o, s) =>
        {
            if (s.sendName)
            {
                NbdFrameWriter.WriteInfoText(o, s.option, NbdInfoType.Name, s.export.Name);
            }
            if (s.export.Description is { } description)
            {
                NbdFrameWriter.WriteInfoText(o, s.option, NbdInfoType.Description, description);
            }
            // Minimum 1: the block layer's generic path does read-modify-write for any alignment.
            NbdFrameWriter.WriteInfoBlockSize(o, s.option, 1, NbdLimits.PreferredBlockSize, NbdLimits.MaxPayload);
            NbdFrameWriter.WriteInfoExport(o, s.option, (ulong)s.export.Child.Length, s.flags);
            NbdFrameWriter.WriteOptionReply(o, s.option, NbdOptionReplyType.Ack, default);
        }, ct).ConfigureAwait(false);
        return (NbdOption)option == NbdOption.Go ? Session(export) : null;
    }

    private async ValueTask StructuredReplyAsync(uint option, ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        if (!data.IsEmpty)
        {
            await ErrorAsync(option, NbdOptionReplyType.ErrInvalid, "NBD_OPT_STRUCTURED_REPLY must not carry data", ct).ConfigureAwait(false);
            return;
        }
        if (_structured)
        {
            await ErrorAsync(option, NbdOptionReplyType.ErrInvalid, "Structured reply already negotiated", ct).ConfigureAwait(false);
            return;
        }
        _structured = true;
        await AckAsync(option, ct).ConfigureAwait(false);
    }

    private async ValueTask MetaContextAsync(uint option, ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        bool list = (NbdOption)option == NbdOption.ListMetaContext;
        if (!_structured)
        {
            await ErrorAsync(option, NbdOptionReplyType.ErrInvalid, "Meta contexts need structured replies, which were not negotiated", ct).ConfigureAwait(false);
            return;
        }
        if (!NbdMetaContextRequest.TryParse(data.Span, out var request, out string error))
        {
            await ErrorAsync(option, NbdOptionReplyType.ErrInvalid, error, ct).ConfigureAwait(false);
            return;
        }
        var export = _exports.Find(request!.ExportName);
        if (export is null)
        {
            await ErrorAsync(option, NbdOptionReplyType.ErrUnknown, $"Export '{request.ExportName}' not present", ct).ConfigureAwait(false);
            return;
        }
        // LIST without queries lists everything; SET without queries selects nothing.
        bool baseAllocation = (list && request.Queries.Count == 0)
            || request.Queries.Any(q => NbdMetaContexts.MatchesBaseAllocation(q, list));
        var bitmaps = new List<(uint Id, NbdDirtyBitmapContext Context)>();
        for (int i = 0; i < export.DirtyBitmaps.Count; i++)
        {
            var context = export.DirtyBitmaps[i];
            if ((list && request.Queries.Count == 0) || request.Queries.Any(q => context.Matches(q, list)))
            {
                bitmaps.Add((NbdDirtyBitmapContext.FirstId + (uint)i, context));
            }
        }
        if (!list)
        {
            _metaExport = request.ExportName;
            _baseAllocation = baseAllocation;
            _dirtyBitmaps = bitmaps;
        }
        await _writer.WriteAsync((option, baseAllocation, bitmaps), static (o, s) =>
        {
            if (s.baseAllocation)
            {
                NbdFrameWriter.WriteMetaContext(o, s.option, NbdMetaContexts.BaseAllocationId, NbdMetaContexts.BaseAllocation);
            }
            foreach (var (id, context) in s.bitmaps)
            {
                NbdFrameWriter.WriteMetaContext(o, s.option, id, context.ContextName);
            }
            NbdFrameWriter.WriteOptionReply(o, s.option, NbdOptionReplyType.Ack, default);
        }, ct).ConfigureAwait(false);
    }

    private NbdSession Session(NbdExport export) =>
        new(export, _structured, _structured && _baseAllocation && _metaExport == export.Name)
        {
            DirtyBitmaps = _structured && _metaExport == export.Name ? _dirtyBitmaps : [],
        };

    private ValueTask AckAsync(uint option, CancellationToken ct) =>
        _writer.WriteAsync(option, static (o, opt) => NbdFrameWriter.WriteOptionReply(o, opt, NbdOptionReplyType.Ack, default), ct);

    private ValueTask ErrorAsync(uint option, NbdOptionReplyType type, string message, CancellationToken ct) =>
        _writer.WriteAsync((option, type, message), static (o, s) => NbdFrameWriter.WriteOptionError(o, s.option, s.type, s.message), ct);
}
