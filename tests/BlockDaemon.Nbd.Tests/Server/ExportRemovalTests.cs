using BlockDaemon.Nbd.Protocol;

namespace BlockDaemon.Nbd.Tests.Server;

/// <summary>What block-export-del and max-connections rely on: per-export client counts, dropping one export's clients, the connection limit.</summary>
public class ExportRemovalTests
{
    [Fact]
    public async Task Dropping_an_exports_clients_leaves_other_exports_clients_connected()
    {
        await using var h = ServerHarness.Start();
        var disk = await h.ExportMemoryAsync("disk", 1 << 20);
        var other = await h.ExportMemoryAsync("other", 1 << 20);
        await using var c1 = await RawNbdClient.OpenAsync(h.SocketPath, "disk");
        await using var c2 = await RawNbdClient.OpenAsync(h.SocketPath, "other");
        await h.WaitForClientsAsync(disk, 1);
        await h.WaitForClientsAsync(other, 1);
        Assert.Equal(1, h.Server.ClientsOf(disk));
        Assert.Equal(1, h.Server.ClientsOf(other));

        h.Server.Exports.Remove("disk");
        await h.Server.DropClientsAsync(disk).WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);

        Assert.Equal(0, h.Server.ClientsOf(disk));
        Assert.Equal(1, h.Server.ClientsOf(other));
        Assert.True(await c1.ServerClosedAsync());
        Assert.Equal(1, h.Server.ConnectionCount);
    }

    [Fact]
    public async Task At_max_connections_the_next_client_waits_until_one_leaves()
    {
        await using var h = ServerHarness.Start(new() { MaxConnections = 1 });
        await h.ExportMemoryAsync("disk", 1 << 20);
        var first = await RawNbdClient.OpenAsync(h.SocketPath, "disk");
        // Connecting succeeds (the listen backlog), but the server greets only after the first leaves.
        var second = RawNbdClient.OpenAsync(h.SocketPath, "disk");
        await Task.Delay(300, TestContext.Current.CancellationToken);
        Assert.False(second.IsCompleted);
        Assert.Equal(1, h.Server.ConnectionCount);

        first.Close();
        await using var c2 = await second.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        await first.DisposeAsync();
        Assert.Equal(1, h.Server.ConnectionCount);
    }

    [Fact]
    public async Task A_client_that_disconnected_does_not_count_as_staying_even_before_the_server_noticed()
    {
        await using var h = ServerHarness.Start();
        var disk = await h.ExportMemoryAsync("disk", 1 << 20);
        var idle = await RawNbdClient.OpenAsync(h.SocketPath, "disk");
        var leaving = await RawNbdClient.OpenAsync(h.SocketPath, "disk");
        await h.WaitForClientsAsync(disk, 2);
        Assert.Equal(2, h.Server.ClientsOf(disk));

        await leaving.SendRequestAsync(NbdCommand.Disconnect, 1, 0, 0);
        leaving.Close();
        Assert.Equal(1, await h.Server.ClientsStayingAsync(disk, TimeSpan.FromSeconds(10)));

        // An idle client is not waited for: the answer comes long before the settle limit.
        var answer = h.Server.ClientsStayingAsync(disk, TimeSpan.FromMinutes(5));
        Assert.Equal(1, await answer.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken));

        idle.Close();
        Assert.Equal(0, await h.Server.ClientsStayingAsync(disk, TimeSpan.FromSeconds(10)));
        await idle.DisposeAsync();
        await leaving.DisposeAsync();
    }
}
