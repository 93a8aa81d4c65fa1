using System.Buffers.Binary;
using System.Text;
using BlockDaemon.Core.Errors;
using System.Net.Security;
using System.Runtime.CompilerServices;
using System.Security.Authentication;
using BlockDaemon.Nbd.Protocol;
using BlockDaemon.Nbd.Tls;

namespace BlockDaemon.Nbd.Client;

/// <summary>
/// The client side of the fixed newstyle handshake, as qemu's nbd driver runs it:
/// STRUCTURED_REPLY, SET_META_CONTEXT base:allocation (or the context x-dirty-bitmap names), then
/// GO with a block size request.
/// </summary>
public static class NbdClientHandshake
{
    private const string AllocationContext = "base:allocation";

    /// <summary>
    /// Negotiates on <paramref name="stream"/>; with <paramref name="tls"/> it first upgrades
    /// with STARTTLS and goes on over TLS. Returns the stream to use from then on.
    /// </summary>
    public static async ValueTask<(NbdExportInfo Info, Stream Stream)> RunAsync(Stream stream, string exportName, NbdTlsCredentials? tls, string? tlsHostname, CancellationToken ct,
        string? metaContext = null)
    {
        // S: 64 bits NBDMAGIC; 64 bits IHAVEOPT; 16 bits handshake flags
        byte[] greeting = new byte[18];
        await stream.ReadExactlyAsync(greeting, ct).ConfigureAwait(false);
        if (BinaryPrimitives.ReadUInt64BigEndian(greeting) != NbdMagic.Init
            || BinaryPrimitives.ReadUInt64BigEndian(greeting.AsSpan(8)) != NbdMagic.Option)
        {
            throw Failed("Server did not speak newstyle NBD");
        }
        var serverFlags = (NbdHandshakeFlags)BinaryPrimitives.ReadUInt16BigEndian(greeting.AsSpan(16));
        if ((serverFlags & NbdHandshakeFlags.FixedNewstyle) == 0)
        {
            throw Failed("Server does not support fixed newstyle negotiation");
        }
        var clientFlags = NbdClientFlags.FixedNewstyle | ((serverFlags & NbdHandshakeFlags.NoZeroes) != 0 ? NbdClientFlags.NoZeroes : 0);
        byte[] flags = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(flags, (uint)clientFlags);
        await stream.WriteAsync(flags, ct).ConfigureAwait(false);

        if (tls is not null)
        {
            stream = await StartTlsAsync(stream, tls, tlsHostname!, ct).ConfigureAwait(false);
        }
        bool structured = await NegotiateStructuredRepliesAsync(stream, ct).ConfigureAwait(false);
        uint? contextId = structured ? await SetAllocationContextAsync(stream, exportName, metaContext ?? AllocationContext, ct).ConfigureAwait(false) : null;
        return (await GoAsync(stream, exportName, structured, contextId, ct).ConfigureAwait(false), stream);
    }

    private static async ValueTask<Stream> StartTlsAsync(Stream stream, NbdTlsCredentials tls, string hostname, CancellationToken ct)
    {
        await SendOptionAsync(stream, NbdOption.StartTls, [], ct).ConfigureAwait(false);
        var (reply, payload) = await ReadReplyAsync(stream, NbdOption.StartTls, ct).ConfigureAwait(false);
        if (reply.Type != NbdOptionReplyType.Ack)
        {
            throw reply.IsError ? OptionRefused(reply, NbdOption.StartTls, payload) : Failed("Server sent an unexpected reply to STARTTLS");
        }
        var secure = new SslStream(stream, leaveInnerStreamOpen: true);
        var refusal = new StrongBox<string?>();
        try
        {
            await secure.AuthenticateAsClientAsync(tls.ClientOptions(hostname, refusal), ct).ConfigureAwait(false);
        }
        catch (AuthenticationException e)
        {
            await secure.DisposeAsync().ConfigureAwait(false);
            throw Failed(refusal.Value ?? $"TLS handshake failed: {e.Message}");
        }
        return secure;
    }

    private static async ValueTask<bool> NegotiateStructuredRepliesAsync(Stream stream, CancellationToken ct)
    {
        await SendOptionAsync(stream, NbdOption.StructuredReply, [], ct).ConfigureAwait(false);
        var (reply, _) = await ReadReplyAsync(stream, NbdOption.StructuredReply, ct).ConfigureAwait(false);
        // A server without structured replies answers ERR_UNSUP; we then live with simple replies.
        return reply.Type == NbdOptionReplyType.Ack;
    }

    private static async ValueTask<uint?> SetAllocationContextAsync(Stream stream, string exportName, string context, CancellationToken ct)
    {
        byte[] name = Encoding.UTF8.GetBytes(exportName);
        byte[] query = Encoding.UTF8.GetBytes(context);
        byte[] data = new byte[4 + name.Length + 4 + 4 + query.Length];
        BinaryPrimitives.WriteUInt32BigEndian(data, (uint)name.Length);
        name.CopyTo(data, 4);
        BinaryPrimitives.WriteUInt32BigEndian(data.AsSpan(4 + name.Length), 1);
        BinaryPrimitives.WriteUInt32BigEndian(data.AsSpan(8 + name.Length), (uint)query.Length);
        query.CopyTo(data, 12 + name.Length);
        await SendOptionAsync(stream, NbdOption.SetMetaContext, data, ct).ConfigureAwait(false);
        uint? id = null;
        while (true)
        {
            var (reply, payload) = await ReadReplyAsync(stream, NbdOption.SetMetaContext, ct).ConfigureAwait(false);
            if (reply.Type == NbdOptionReplyType.MetaContext && payload.Length >= 4
                && Encoding.UTF8.GetString(payload, 4, payload.Length - 4) == context)
            {
                id = BinaryPrimitives.ReadUInt32BigEndian(payload);
            }
            else if (reply.Type == NbdOptionReplyType.Ack || reply.IsError)
            {
                // An error (or no context) only costs us block status; the export may still be fine.
                return id;
            }
        }
    }

    private static async ValueTask<NbdExportInfo> GoAsync(Stream stream, string exportName, bool structured, uint? contextId, CancellationToken ct)
    {
        byte[] name = Encoding.UTF8.GetBytes(exportName);
        byte[] data = new byte[4 + name.Length + 2 + 2];
        BinaryPrimitives.WriteUInt32BigEndian(data, (uint)name.Length);
        name.CopyTo(data, 4);
        BinaryPrimitives.WriteUInt16BigEndian(data.AsSpan(4 + name.Length), 1);
        BinaryPrimitives.WriteUInt16BigEndian(data.AsSpan(6 + name.Length), (ushort)NbdInfoType.BlockSize);
        await SendOptionAsync(stream, NbdOption.Go, data, ct).ConfigureAwait(false);
        ulong? size = null;
        var flags = NbdTransmissionFlags.None;
        uint minimum = 1, maximum = NbdLimits.MaxPayload;
        while (true)
        {
            var (reply, payload) = await ReadReplyAsync(stream, NbdOption.Go, ct).ConfigureAwait(false);
            if (reply.IsError)
            {
                throw reply.Type switch
                {
                    NbdOptionReplyType.ErrUnknown => Failed("Requested export not available"),
                    NbdOptionReplyType.ErrTlsReqd => OptionRefused(reply, NbdOption.Go, payload),
                    _ => Failed($"Server refused the export: {Encoding.UTF8.GetString(payload)}"),
                };
            }
            if (reply.Type == NbdOptionReplyType.Ack)
            {
                break;
            }
            if (reply.Type != NbdOptionReplyType.Info || payload.Length < 2)
            {
                continue;
            }
            switch ((NbdInfoType)BinaryPrimitives.ReadUInt16BigEndian(payload))
            {
                case NbdInfoType.Export when payload.Length == 12:
                    size = BinaryPrimitives.ReadUInt64BigEndian(payload.AsSpan(2));
                    flags = (NbdTransmissionFlags)BinaryPrimitives.ReadUInt16BigEndian(payload.AsSpan(10));
                    break;
                case NbdInfoType.BlockSize when payload.Length == 14:
                    minimum = BinaryPrimitives.ReadUInt32BigEndian(payload.AsSpan(2));
                    maximum = BinaryPrimitives.ReadUInt32BigEndian(payload.AsSpan(10));
                    break;
            }
        }
        if (size is null)
        {
            throw Failed("Server did not send the export size");
        }
        if (minimum == 0 || (minimum & (minimum - 1)) != 0 || minimum > 64 * 1024 || maximum < minimum)
        {
            throw Failed($"Server sent invalid block sizes (minimum {minimum}, maximum {maximum})");
        }
        return new NbdExportInfo(size.Value, flags, structured, contextId, minimum, Math.Min(maximum, (uint)NbdLimits.MaxPayload));
    }

    // C: 64 bits IHAVEOPT; 32 bits option; 32 bits length; data
    private static async ValueTask SendOptionAsync(Stream stream, NbdOption option, byte[] data, CancellationToken ct)
    {
        byte[] frame = new byte[16 + data.Length];
        BinaryPrimitives.WriteUInt64BigEndian(frame, NbdMagic.Option);
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(8), (uint)option);
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(12), (uint)data.Length);
        data.CopyTo(frame, 16);
        await stream.WriteAsync(frame, ct).ConfigureAwait(false);
    }

    private static async ValueTask<(NbdOptionReply Reply, byte[] Payload)> ReadReplyAsync(Stream stream, NbdOption option, CancellationToken ct)
    {
        byte[] header = new byte[NbdOptionReply.Size];
        await stream.ReadExactlyAsync(header, ct).ConfigureAwait(false);
        var reply = NbdOptionReply.Parse(header);
        if (reply.Option != (uint)option)
        {
            NbdProtocolException.Throw($"Option reply for {reply.Option}, expected {(uint)option}");
        }
        if (reply.Length > NbdLimits.MaxOptionLength)
        {
            NbdProtocolException.Throw($"Option reply too long ({reply.Length} bytes)");
        }
        byte[] payload = new byte[reply.Length];
        await stream.ReadExactlyAsync(payload, ct).ConfigureAwait(false);
        return (reply, payload);
    }

    private static BlockException Failed(string message) => new(BlockErrorKind.IoError, message);

    // qemu's nbd_handle_reply_err wording, "<what> for option N (name)".
    private static BlockException OptionRefused(NbdOptionReply reply, NbdOption option, byte[] payload)
    {
        string name = option switch
        {
            NbdOption.StartTls => "starttls",
            NbdOption.Go => "go",
            _ => option.ToString().ToLowerInvariant(),
        };
        string what = reply.Type switch
        {
            NbdOptionReplyType.ErrPolicy => "Denied by server",
            NbdOptionReplyType.ErrTlsReqd => "TLS negotiation required before",
            NbdOptionReplyType.ErrUnsup => "Unsupported option",
            _ => $"Server refused ({Encoding.UTF8.GetString(payload)})",
        };
        return Failed(reply.Type == NbdOptionReplyType.ErrTlsReqd ? $"{what} option {(uint)option} ({name})" : $"{what} for option {(uint)option} ({name})");
    }
}
