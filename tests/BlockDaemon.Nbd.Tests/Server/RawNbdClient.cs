using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;
using BlockDaemon.Nbd.Protocol;

namespace BlockDaemon.Nbd.Tests.Server;

/// <summary>
/// A scripted NBD client over a raw socket: it sends exactly the bytes a test asks for, so tests
/// can play a well-behaved client or a hostile one, and reads replies field by field.
/// </summary>
internal sealed class RawNbdClient : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly NetworkStream _stream;

    private RawNbdClient(Socket socket)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
    }

    public static async Task<RawNbdClient> ConnectAsync(string socketPath)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath));
        return new RawNbdClient(socket);
    }

    /// <summary>Connects, checks the greeting and answers with FIXED_NEWSTYLE | NO_ZEROES.</summary>
    public static async Task<RawNbdClient> NegotiateAsync(string socketPath)
    {
        var client = await ConnectAsync(socketPath);
        var greeting = await client.ReadExactAsync(18);
        Assert.Equal(NbdMagic.Init, BinaryPrimitives.ReadUInt64BigEndian(greeting));
        Assert.Equal(NbdMagic.Option, BinaryPrimitives.ReadUInt64BigEndian(greeting.AsSpan(8)));
        Assert.Equal(3, BinaryPrimitives.ReadUInt16BigEndian(greeting.AsSpan(16)));
        await client.SendAsync(U32(3));
        return client;
    }

    /// <summary>Negotiates structured replies and base:allocation, then GOes to <paramref name="export"/>.</summary>
    public static async Task<RawNbdClient> OpenAsync(string socketPath, string export, bool structured = true)
    {
        var client = await NegotiateAsync(socketPath);
        if (structured)
        {
            await client.SendOptionAsync(NbdOption.StructuredReply, []);
            Assert.Equal(NbdOptionReplyType.Ack, (await client.ReadOptionReplyAsync()).Type);
            await client.SendOptionAsync(NbdOption.SetMetaContext, MetaContextData(export, "base:allocation"));
            Assert.Equal(NbdOptionReplyType.MetaContext, (await client.ReadOptionReplyAsync()).Type);
            Assert.Equal(NbdOptionReplyType.Ack, (await client.ReadOptionReplyAsync()).Type);
        }
        await client.SendOptionAsync(NbdOption.Go, InfoData(export));
        while (true)
        {
            var reply = await client.ReadOptionReplyAsync();
            if (reply.Type == NbdOptionReplyType.Ack)
            {
                return client;
            }
            Assert.Equal(NbdOptionReplyType.Info, reply.Type);
        }
    }

    public Task SendAsync(byte[] bytes) => _stream.WriteAsync(bytes).AsTask();

    public Task SendOptionAsync(NbdOption option, byte[] data) => SendOptionAsync((uint)option, data);

    public Task SendOptionAsync(uint option, byte[] data) =>
        SendAsync([.. U64(NbdMagic.Option), .. U32(option), .. U32((uint)data.Length), .. data]);

    public Task SendRequestAsync(NbdCommand command, ulong cookie, ulong offset, uint length, NbdCommandFlags flags = NbdCommandFlags.None, byte[]? data = null) =>
        SendAsync([.. U32(NbdMagic.Request), .. U16((ushort)flags), .. U16((ushort)command), .. U64(cookie), .. U64(offset), .. U32(length), .. data ?? []]);

    public async Task<OptionReply> ReadOptionReplyAsync()
    {
        var header = await ReadExactAsync(20);
        Assert.Equal(NbdMagic.OptionReply, BinaryPrimitives.ReadUInt64BigEndian(header));
        uint length = BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(16));
        return new OptionReply(BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(8)),
            (NbdOptionReplyType)BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(12)), await ReadExactAsync((int)length));
    }

    /// <summary>A simple reply's error and cookie (data, if any, is left to read).</summary>
    public async Task<(uint Error, ulong Cookie)> ReadSimpleReplyAsync()
    {
        var header = await ReadExactAsync(16);
        Assert.Equal(NbdMagic.SimpleReply, BinaryPrimitives.ReadUInt32BigEndian(header));
        return (BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(4)), BinaryPrimitives.ReadUInt64BigEndian(header.AsSpan(8)));
    }

    public async Task<Chunk> ReadChunkAsync()
    {
        var header = await ReadExactAsync(20);
        Assert.Equal(NbdMagic.StructuredReply, BinaryPrimitives.ReadUInt32BigEndian(header));
        uint length = BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(16));
        return new Chunk((NbdReplyFlags)BinaryPrimitives.ReadUInt16BigEndian(header.AsSpan(4)),
            (NbdReplyChunkType)BinaryPrimitives.ReadUInt16BigEndian(header.AsSpan(6)),
            BinaryPrimitives.ReadUInt64BigEndian(header.AsSpan(8)), await ReadExactAsync((int)length));
    }

    /// <summary>Reads a structured error chunk and returns its errno.</summary>
    public async Task<uint> ReadErrorChunkAsync(ulong cookie)
    {
        var chunk = await ReadChunkAsync();
        Assert.Equal(cookie, chunk.Cookie);
        Assert.Equal(NbdReplyChunkType.Error, chunk.Type);
        Assert.Equal(NbdReplyFlags.Done, chunk.Flags);
        return BinaryPrimitives.ReadUInt32BigEndian(chunk.Payload);
    }

    public async Task<byte[]> ReadExactAsync(int count)
    {
        byte[] buffer = new byte[count];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await _stream.ReadExactlyAsync(buffer, timeout.Token);
        return buffer;
    }

    /// <summary>True when the server closed the connection (EOF or reset) within a few seconds.</summary>
    public async Task<bool> ServerClosedAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        byte[] one = new byte[1];
        try
        {
            while (true)
            {
                if (await _stream.ReadAsync(one, timeout.Token) == 0)
                {
                    return true;
                }
            }
        }
        catch (IOException)
        {
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    public void Close() => _socket.Close();

    public async ValueTask DisposeAsync() => await _stream.DisposeAsync();

    public static byte[] InfoData(string export, params NbdInfoType[] requests)
    {
        byte[] name = Encoding.UTF8.GetBytes(export);
        return [.. U32((uint)name.Length), .. name, .. U16((ushort)requests.Length), .. requests.SelectMany(r => U16((ushort)r))];
    }

    public static byte[] MetaContextData(string export, params string[] queries)
    {
        byte[] name = Encoding.UTF8.GetBytes(export);
        return [.. U32((uint)name.Length), .. name, .. U32((uint)queries.Length),
            .. queries.SelectMany(q => (byte[])[.. U32((uint)Encoding.UTF8.GetByteCount(q)), .. Encoding.UTF8.GetBytes(q)])];
    }

    public static byte[] U16(ushort value)
    {
        byte[] b = new byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(b, value);
        return b;
    }

    public static byte[] U32(uint value)
    {
        byte[] b = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(b, value);
        return b;
    }

    public static byte[] U64(ulong value)
    {
        byte[] b = new byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(b, value);
        return b;
    }

    public sealed record OptionReply(uint Option, NbdOptionReplyType Type, byte[] Data)
    {
        public string Text => Encoding.UTF8.GetString(Data);
    }

    public sealed record Chunk(NbdReplyFlags Flags, NbdReplyChunkType Type, ulong Cookie, byte[] Payload);
}
