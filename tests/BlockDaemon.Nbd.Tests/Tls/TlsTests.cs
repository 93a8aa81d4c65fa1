using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;
using BlockDaemon.Nbd.Client;
using BlockDaemon.Nbd.Protocol;
using BlockDaemon.Nbd.Server;
using BlockDaemon.Nbd.Tests.Client;
using BlockDaemon.Nbd.Tests.Server;
using BlockDaemon.Nbd.Tls;
using BlockDaemon.TestKit;

namespace BlockDaemon.Nbd.Tests.Tls;

/// <summary>NBD over TLS: our server requires STARTTLS as qemu does; our client upgrades and checks the server.</summary>
public class TlsTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static (NbdTlsCredentials Server, NbdTlsCredentials Client, string Dir) Credentials(TempDirectory dir)
    {
        string pki = dir["pki"];
        TestPki.Create(pki);
        return (NbdTlsCredentials.Load("s0", Path.Combine(pki, "server"), NbdTlsEndpoint.Server, verifyPeer: true),
            NbdTlsCredentials.Load("c0", Path.Combine(pki, "client"), NbdTlsEndpoint.Client, verifyPeer: true), pki);
    }

    [Fact]
    public async Task Options_before_STARTTLS_are_refused_with_TLS_REQD_and_EXPORT_NAME_closes()
    {
        using var dir = new TempDirectory("blockd-tls-");
        var (server, client, _) = Credentials(dir);
        using var _s = server;
        using var _c = client;
        await using var h = ServerHarness.Start(new NbdServerOptions { Tls = server });
        await h.ExportMemoryAsync("disk", 1 << 20);
        await using (var c = await RawNbdClient.NegotiateAsync(h.SocketPath))
        {
            foreach (var option in (NbdOption[])[NbdOption.Go, NbdOption.List, NbdOption.StructuredReply, NbdOption.Info])
            {
                await c.SendOptionAsync(option, option is NbdOption.Go or NbdOption.Info ? RawNbdClient.InfoData("disk") : []);
                var reply = await c.ReadOptionReplyAsync();
                Assert.Equal(NbdOptionReplyType.ErrTlsReqd, reply.Type);
                Assert.Equal($"Option 0x{(uint)option:x} not permitted before TLS", reply.Text);
            }
            await c.SendOptionAsync(NbdOption.ExportName, "disk"u8.ToArray());
            Assert.True(await c.ServerClosedAsync());
        }
        await using (var c = await RawNbdClient.NegotiateAsync(h.SocketPath))
        {
            await c.SendOptionAsync(NbdOption.Abort, []);
            Assert.Equal(NbdOptionReplyType.ErrTlsReqd, (await c.ReadOptionReplyAsync()).Type);
            Assert.True(await c.ServerClosedAsync());
        }
    }

    [Fact]
    public async Task Our_client_reads_and_writes_through_our_server_over_TLS()
    {
        using var dir = new TempDirectory("blockd-tls-");
        var (server, client, _) = Credentials(dir);
        using var _s = server;
        using var _c = client;
        await using var h = ServerHarness.Start(new NbdServerOptions { Tls = server });
        await h.ExportMemoryAsync("disk", 1 << 20);
        await using var g = new TestGraph();
        g.Graph.RegisterDriver(new NbdClientDriverFactory(id => id == "c0" ? client : null));
        await g.AddAsync(NbdNodes.Unix("n", h.SocketPath, "disk", ("tls-creds", "c0"), ("tls-hostname", "localhost")), Ct);
        var edge = g.Attach("n", BlockPermissions.ConsistentRead | BlockPermissions.Write);
        byte[] data = Enumerable.Range(0, 65536).Select(i => (byte)i).ToArray();
        await edge.WriteAsync(4096, data, WriteFlags.Fua, Ct);
        byte[] back = new byte[65536];
        await edge.ReadAsync(4096, back, Ct);
        Assert.Equal(data, back);
        Assert.Equal(data, h.TestGraph.Memory["disk"].Data.Slice(4096, 65536).ToArray());

        // The certificate names localhost, not another host: the client refuses it.
        var e = await Assert.ThrowsAsync<BlockException>(async () =>
            await g.AddAsync(NbdNodes.Unix("m", h.SocketPath, "disk", ("tls-creds", "c0"), ("tls-hostname", "elsewhere")), Ct));
        Assert.Equal("Certificate does not match the hostname elsewhere", e.Message);
        // Without TLS the server turns the client away in qemu's words.
        e = await Assert.ThrowsAsync<BlockException>(async () => await g.AddAsync(NbdNodes.Unix("m", h.SocketPath, "disk"), Ct));
        Assert.Equal("TLS negotiation required before option 7 (go)", e.Message);
    }

    [Fact]
    public async Task Nbdinfo_and_qemu_img_talk_to_our_server_over_TLS()
    {
        ExternalTools.Require("nbdinfo", ExternalTools.QemuImg);
        using var dir = new TempDirectory("blockd-tls-");
        var (server, client, pki) = Credentials(dir);
        using var _s = server;
        using var _c = client;
        await using var h = ServerHarness.Start(new NbdServerOptions { Tls = server });
        await h.ExportMemoryAsync("disk", 1 << 20);
        var size = await ExternalTools.RunAsync("nbdinfo", ["--size", $"nbds+unix:///disk?socket={h.SocketPath}&tls-certificates={pki}/client"], Ct);
        Assert.Equal("1048576", size.Stdout.Trim());
        var info = await ExternalTools.RunAsync(ExternalTools.QemuImg, ["info", "--object", $"tls-creds-x509,id=c0,dir={pki}/client,endpoint=client",
            "--image-opts", $"driver=nbd,server.type=unix,server.path={h.SocketPath},export=disk,tls-creds=c0,tls-hostname=localhost"], Ct);
        Assert.Contains("virtual size: 1 MiB", info.Stdout, StringComparison.Ordinal);
        // Plain nbdinfo is turned away.
        await ExternalTools.RunAsync("nbdinfo", ["--size", h.Uri("disk")], Ct, 1);
    }

    [Fact]
    public void Missing_files_are_reported_in_qemus_words()
    {
        using var dir = new TempDirectory("blockd-tls-");
        var e = Assert.Throws<BlockException>(() => NbdTlsCredentials.Load("x", dir.Path, NbdTlsEndpoint.Server, true));
        Assert.Equal($"Unable to access credentials {dir["ca-cert.pem"]}: No such file or directory", e.Message);
        File.WriteAllText(dir["ca-cert.pem"], "");
        e = Assert.Throws<BlockException>(() => NbdTlsCredentials.Load("x", dir.Path, NbdTlsEndpoint.Server, true));
        Assert.Equal($"Unable to access credentials {dir["server-cert.pem"]}: No such file or directory", e.Message);
    }
}
