using System.Buffers;
using System.Runtime.CompilerServices;
using BlockDaemon.Core.Io;
using BlockDaemon.Nbd.Protocol;
using BlockDaemon.Nbd.Server.MetaContexts;

namespace BlockDaemon.Nbd.Server;

/// <summary>
/// Runs one validated-or-not request through three steps, as nbdkit's protocol.c does: validate,
/// handle through the export's edge, map the outcome to a reply. Block I/O is never cancelled
/// because the client went away: a write that was fully received completes, so nothing the
/// client may already consider written is lost; only the reply is dropped.
/// </summary>
internal sealed class NbdRequestHandler
{
    private readonly NbdSession _session;
    private readonly NbdReplyWriter _writer;

    public NbdRequestHandler(NbdSession session, NbdReplyWriter writer)
    {
        _session = session;
        _writer = writer;
    }

    private bool Structured => _session.StructuredReplies;

    /// <summary>Handles <paramref name="request"/>; <paramref name="payload"/> holds a WRITE's data. Throws only when the reply cannot be sent.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask HandleAsync(NbdRequest request, ReadOnlyMemory<byte> payload, CancellationToken replyCt)
    {
        if (NbdRequestValidator.Validate(request, _session) is { } refused)
        {
            await ReplyErrorAsync(request.Cookie, refused.Errno, refused.Message, replyCt).ConfigureAwait(false);
            return;
        }
        byte[]? readBuffer = request.Command == NbdCommand.Read ? ArrayPool<byte>.Shared.Rent((int)request.Length) : null;
        try
        {
            List<NbdReadSegment>? segments = null;
            NbdExtent[][]? extents = null;
            // Step 2: the block layer. Any failure here is the request's, and becomes its error reply.
            try
            {
                switch (request.Command)
                {
                    case NbdCommand.Read:
                        segments = await ReadAsync(request, readBuffer!.AsMemory(0, (int)request.Length)).ConfigureAwait(false);
                        break;
                    case NbdCommand.BlockStatus:
                        int max = (request.Flags & NbdCommandFlags.ReqOne) != 0 ? 1 : NbdLimits.MaxExtents;
                        extents = await CollectExtentsAsync(request, max).ConfigureAwait(false);
                        break;
                    default:
                        await ExecuteAsync(request, payload).ConfigureAwait(false);
                        break;
                }
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                await ReplyErrorAsync(request.Cookie, NbdErrors.ToErrno(e), e.Message, replyCt).ConfigureAwait(false);
                return;
            }
            // Step 3: the reply. A failure here means the connection is gone; it propagates.
            if (segments is not null)
            {
                await ReplyReadAsync(request, readBuffer!, segments, replyCt).ConfigureAwait(false);
            }
            else if (extents is not null)
            {
                await _writer.WriteAsync((request.Cookie, extents, _session.MetaContexts), static (o, s) =>
                {
                    // One chunk per selected context, in the export's order; the last one ends the reply.
                    for (int i = 0; i < s.extents.Length; i++)
                    {
                        var flags = i == s.extents.Length - 1 ? NbdReplyFlags.Done : NbdReplyFlags.None;
                        NbdFrameWriter.WriteBlockStatus(o, flags, s.Cookie, s.MetaContexts[i].Id, s.extents[i].AsSpan());
                    }
                }, replyCt).ConfigureAwait(false);
            }
            else
            {
                await ReplyDoneAsync(request.Cookie, replyCt).ConfigureAwait(false);
            }
        }
        finally
        {
            if (readBuffer is not null)
            {
                ArrayPool<byte>.Shared.Return(readBuffer);
            }
        }
    }

    private async ValueTask<NbdExtent[][]> CollectExtentsAsync(NbdRequest request, int max)
    {
        var contexts = _session.MetaContexts;
        var extents = new NbdExtent[contexts.Count][];
        for (int i = 0; i < contexts.Count; i++)
        {
            extents[i] = await contexts[i].CollectAsync(_session.Export.Child, (long)request.Offset, request.Length, max).ConfigureAwait(false);
        }
        return extents;
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask ExecuteAsync(NbdRequest request, ReadOnlyMemory<byte> payload)
    {
        var child = _session.Export.Child;
        long offset = (long)request.Offset;
        // A write-through export makes every write durable before it is acknowledged, which is
        // what FUA asks for one request.
        bool fua = (request.Flags & NbdCommandFlags.Fua) != 0 || _session.Export.WriteThrough;
        switch (request.Command)
        {
            case NbdCommand.Write:
                // The connection waits for this write to send its reply: a small one is done on
                // this thread rather than handed to another and back.
                await child.WriteAsync(offset, payload, WriteFlags.Inline | (fua ? WriteFlags.Fua : WriteFlags.None)).ConfigureAwait(false);
                break;
            case NbdCommand.Flush:
                await child.FlushAsync().ConfigureAwait(false);
                break;
            case NbdCommand.Trim:
                await child.DiscardAsync(offset, request.Length).ConfigureAwait(false);
                if (fua)
                {
                    await child.FlushAsync().ConfigureAwait(false);
                }
                break;
            case NbdCommand.WriteZeroes:
                var flags = (fua ? WriteFlags.Fua : WriteFlags.None)
                    | ((request.Flags & NbdCommandFlags.NoHole) == 0 ? WriteFlags.MayUnmap : WriteFlags.None)
                    | ((request.Flags & NbdCommandFlags.FastZero) != 0 ? WriteFlags.NoFallback : WriteFlags.None);
                await child.WriteZeroesAsync(offset, request.Length, flags).ConfigureAwait(false);
                break;
            case NbdCommand.Cache:
                // A read whose data is dropped: it pulls the range into the host's caches below us.
                byte[] scratch = ArrayPool<byte>.Shared.Rent((int)request.Length);
                try
                {
                    await child.ReadAsync(offset, scratch.AsMemory(0, (int)request.Length)).ConfigureAwait(false);
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(scratch);
                }
                break;
        }
    }

    private ValueTask<List<NbdReadSegment>> ReadAsync(NbdRequest request, Memory<byte> buffer)
    {
        bool sparse = Structured && (request.Flags & NbdCommandFlags.DontFragment) == 0 && !buffer.IsEmpty;
        return sparse
            ? NbdSparseRead.ReadAsync(_session.Export.Child, (long)request.Offset, buffer)
            : NbdSparseRead.ReadWholeAsync(_session.Export.Child, (long)request.Offset, buffer);
    }

    // The data goes out from the read buffer itself, gathered with the chunk headers.
    private ValueTask ReplyReadAsync(NbdRequest request, byte[] buffer, List<NbdReadSegment> segments, CancellationToken replyCt)
    {
        int parts = !Structured ? 1 : Math.Max(1, segments.Count);
        return _writer.WriteGatheredAsync((request, buffer, segments, Structured), parts, static (o, s, i) =>
        {
            if (!s.Structured)
            {
                NbdFrameWriter.WriteSimpleReply(o, 0, s.request.Cookie);
                return new ArraySegment<byte>(s.buffer, 0, (int)s.request.Length);
            }
            if (s.segments.Count == 0)
            {
                NbdFrameWriter.WriteChunkHeader(o, NbdReplyFlags.Done, NbdReplyChunkType.None, s.request.Cookie, 0);
                return default;
            }
            var seg = s.segments[i];
            var flags = i == s.segments.Count - 1 ? NbdReplyFlags.Done : NbdReplyFlags.None;
            ulong at = s.request.Offset + (ulong)seg.Start;
            if (seg.Hole)
            {
                NbdFrameWriter.WriteOffsetHole(o, flags, s.request.Cookie, at, (uint)seg.Length);
                return default;
            }
            NbdFrameWriter.WriteOffsetDataHeader(o, flags, s.request.Cookie, at, seg.Length);
            return new ArraySegment<byte>(s.buffer, seg.Start, seg.Length);
        }, replyCt);
    }

    private ValueTask ReplyDoneAsync(ulong cookie, CancellationToken ct) =>
        _writer.WriteAsync((cookie, Structured), static (o, s) =>
        {
            if (s.Structured)
            {
                NbdFrameWriter.WriteChunkHeader(o, NbdReplyFlags.Done, NbdReplyChunkType.None, s.cookie, 0);
            }
            else
            {
                NbdFrameWriter.WriteSimpleReply(o, 0, s.cookie);
            }
        }, ct);

    private ValueTask ReplyErrorAsync(ulong cookie, uint errno, string message, CancellationToken ct) =>
        _writer.WriteAsync((cookie, errno, message, Structured), static (o, s) =>
        {
            if (s.Structured)
            {
                NbdFrameWriter.WriteErrorChunk(o, NbdReplyFlags.Done, s.cookie, s.errno, s.message);
            }
            else
            {
                NbdFrameWriter.WriteSimpleReply(o, s.errno, s.cookie);
            }
        }, ct);
}
