using System.Text;
using System.Text.Json.Nodes;
using BlockDaemon.Core.Graph;

namespace BlockDaemon.Qmp.Tests;

public sealed class QmpSessionTests
{
    [Fact]
    public async Task Greeting_is_the_first_line()
    {
        await using var harness = new QmpHarness();
        using var client = harness.Connect();

        Assert.Equal(
            """{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": "x"}, "capabilities": ["oob"]}}""",
            await client.ReadLineAsync());
    }

    [Fact]
    public async Task Commands_before_negotiation_are_refused()
    {
        await using var harness = new QmpHarness();
        using var client = harness.Connect();
        await client.ReadLineAsync();

        Assert.Equal(
            """{"id": 1, "error": {"class": "CommandNotFound", "desc": "Expecting capabilities negotiation with 'qmp_capabilities'"}}""",
            await client.CommandLineAsync("""{"execute": "query-version", "id": 1}"""));
        Assert.Equal("""{"return": {}, "id": 2}""", await client.CommandLineAsync("""{"execute": "qmp_capabilities", "id": 2}"""));
        Assert.Equal(
            """{"id": 3, "error": {"class": "CommandNotFound", "desc": "Capabilities negotiation is already complete, command ignored"}}""",
            await client.CommandLineAsync("""{"execute": "qmp_capabilities", "id": 3}"""));
    }

    [Fact]
    public async Task Negotiation_with_unknown_capability_fails_and_leaves_session_unnegotiated()
    {
        await using var harness = new QmpHarness();
        using var client = harness.Connect();
        await client.ReadLineAsync();

        var error = await client.CommandAsync("""{"execute": "qmp_capabilities", "arguments": {"enable": ["nope"]}}""");
        Assert.Equal("GenericError", (string)error["error"]!["class"]!);
        // qsd 7.2 names a list element of an enum 'null' (checked against qemu-storage-daemon).
        Assert.Equal("Parameter 'null' does not accept value 'nope'", (string)error["error"]!["desc"]!);

        var refused = await client.CommandAsync("""{"execute": "query-version"}""");
        Assert.Equal("CommandNotFound", (string)refused["error"]!["class"]!);
    }

    [Theory]
    [InlineData("1")]
    [InlineData("\"abc\"")]
    [InlineData("{\"a\": [1, \"x\", null]}")]
    [InlineData("null")]
    public async Task Id_is_echoed_verbatim(string id)
    {
        await using var harness = new QmpHarness();
        using var client = await harness.ConnectNegotiatedAsync();

        var ok = await client.CommandAsync($$"""{"execute": "query-version", "id": {{id}}}""");
        var failed = await client.CommandAsync($$"""{"execute": "no-such-command", "id": {{id}}}""");

        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(id), ok["id"]), ok.ToJsonString());
        Assert.True(ok.ContainsKey("return"));
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(id), failed["id"]), failed.ToJsonString());
        Assert.Equal("The command no-such-command has not been found", (string)failed["error"]!["desc"]!);
    }

    [Fact]
    public async Task Reply_without_id_has_no_id()
    {
        await using var harness = new QmpHarness();
        using var client = await harness.ConnectNegotiatedAsync();

        var reply = await client.CommandAsync("""{"execute": "query-version"}""");

        Assert.Equal(["return"], reply.Select(p => p.Key));
        Assert.Equal(7, (int)reply["return"]!["qemu"]!["major"]!);
    }

    [Fact]
    public async Task Blockdev_add_then_query_named_block_nodes()
    {
        await using var harness = new QmpHarness();
        using var client = await harness.ConnectNegotiatedAsync();

        Assert.Equal("""{"return": {}, "id": "a"}""",
            await client.CommandLineAsync("""{"execute": "blockdev-add", "arguments": {"driver": "null-co", "node-name": "n0", "size": 1048576}, "id": "a"}"""));
        var reply = await client.CommandAsync("""{"execute": "query-named-block-nodes", "id": "q"}""");

        var node = Assert.Single(reply["return"]!.AsArray());
        Assert.Equal("n0", (string)node!["node-name"]!);
        Assert.Equal("null-co", (string)node["drv"]!);
        Assert.Equal(1048576L, (long)node["image"]!["virtual-size"]!);
        Assert.NotNull(harness.Graph.FindNode("n0"));
    }

    [Fact]
    public async Task Blockdev_add_of_a_duplicate_node_name_is_an_error_and_the_session_goes_on()
    {
        await using var harness = new QmpHarness();
        using var client = await harness.ConnectNegotiatedAsync();
        const string add = """{"execute": "blockdev-add", "arguments": {"driver": "null-co", "node-name": "n0"}}""";

        Assert.Equal("""{"return": {}}""", await client.CommandLineAsync(add));
        var error = await client.CommandAsync(add);

        Assert.Equal("GenericError", (string)error["error"]!["class"]!);
        Assert.Contains("n0", (string)error["error"]!["desc"]!, StringComparison.Ordinal);
        Assert.True((await client.CommandAsync("""{"execute": "query-version"}""")).ContainsKey("return"));
    }

    [Fact]
    public async Task Malformed_json_gets_an_error_and_the_session_recovers()
    {
        await using var harness = new QmpHarness();
        using var client = await harness.ConnectNegotiatedAsync();

        var error = await client.CommandAsync("""{"execute": }""");
        Assert.Equal("GenericError", (string)error["error"]!["class"]!);
        Assert.False(error.ContainsKey("id"));

        var ok = await client.CommandAsync("""{"execute": "query-version", "id": 7}""");
        Assert.Equal(7, (int)ok["id"]!);
        Assert.True(ok.ContainsKey("return"));
    }

    [Fact]
    public async Task Non_object_input_is_an_error()
    {
        await using var harness = new QmpHarness();
        using var client = await harness.ConnectNegotiatedAsync();

        Assert.Equal("""{"error": {"class": "GenericError", "desc": "QMP input must be a JSON object"}}""",
            await client.CommandLineAsync("[1, 2]"));
        Assert.Equal("""{"id": 1, "error": {"class": "GenericError", "desc": "QMP input lacks member 'execute'"}}""",
            await client.CommandLineAsync("""{"id": 1}"""));
    }

    [Fact]
    public async Task Oversize_token_is_refused_and_the_session_keeps_working()
    {
        await using var harness = new QmpHarness();
        using var client = await harness.ConnectNegotiatedAsync();
        string huge = "{\"execute\": \"query-version\", \"arguments\": {\"s\": \"" + new string('a', (16 << 20) + 16) + "\"}}\n";

        var send = client.SendAsync(huge);
        var first = await client.ReadAsync();
        await send;
        await client.SendAsync("""{"execute": "query-version", "id": "after"}""" + "\n");
        var messages = new List<JsonNode?> { first };
        while (messages[^1]?["id"] is null)
        {
            messages.Add(await client.ReadAsync());
            Assert.True(messages.Count < 100, "Too many replies to one oversize message");
        }

        Assert.Equal("JSON token size limit exceeded", (string)first!["error"]!["desc"]!);
        Assert.Equal("after", (string)messages[^1]!["id"]!);
        Assert.True(messages[^1]!.AsObject().ContainsKey("return"), messages[^1]!.ToJsonString());
    }

    [Fact]
    public async Task Deep_nesting_is_refused_and_the_session_keeps_working()
    {
        await using var harness = new QmpHarness();
        using var client = await harness.ConnectNegotiatedAsync();

        await client.SendAsync(new string('[', 1025));
        var error = await client.ReadAsync();
        Assert.Equal("JSON nesting depth limit exceeded", (string)error!["error"]!["desc"]!);

        await client.SendAsync("\n" + """{"execute": "query-version", "id": "after"}""" + "\n");
        JsonNode? reply;
        int count = 0;
        do
        {
            reply = await client.ReadAsync();
            Assert.True(++count < 10, "Too many replies after the nesting error");
        }
        while (reply?["id"] is null);
        Assert.Equal("after", (string)reply!["id"]!);
        Assert.True(reply.AsObject().ContainsKey("return"));
    }

    [Fact]
    public async Task Nesting_of_1024_is_accepted()
    {
        await using var harness = new QmpHarness();
        using var client = await harness.ConnectNegotiatedAsync();

        // A well-formed array nested 1024 deep parses; it is just not an object.
        Assert.Equal("""{"error": {"class": "GenericError", "desc": "QMP input must be a JSON object"}}""",
            await client.CommandLineAsync(new string('[', 1024) + new string(']', 1024)));
    }

    [Fact]
    public async Task Commands_split_across_writes_and_batched_in_one_write_are_answered_in_order()
    {
        await using var harness = new QmpHarness();
        using var client = await harness.ConnectNegotiatedAsync();

        await client.SendAsync("""{"execute": "query-ver""");
        await client.SendAsync("""sion", "id": 1}{"execute": "query-version", "id": 2}""" + "\n");

        Assert.Equal(1, (int)(await client.ReadAsync())!["id"]!);
        Assert.Equal(2, (int)(await client.ReadAsync())!["id"]!);
    }

    [Fact]
    public async Task Quit_requests_shutdown_and_replies()
    {
        await using var harness = new QmpHarness();
        using var client = await harness.ConnectNegotiatedAsync();

        Assert.Equal("""{"return": {}}""", await client.CommandLineAsync("""{"execute": "quit"}"""));
        await harness.Daemon.ShutdownRequested.Task.WaitAsync(QmpClient.Timeout, TestContext.Current.CancellationToken);
        Assert.Equal(1, harness.Daemon.ShutdownRequests);
    }

    [Fact]
    public async Task Write_threshold_event_reaches_every_negotiated_session_only()
    {
        await using var harness = new QmpHarness();
        using var first = await harness.ConnectNegotiatedAsync();
        using var second = await harness.ConnectNegotiatedAsync();
        using var third = harness.Connect();
        Assert.NotNull((await third.ReadAsync())!["QMP"]);

        Assert.Equal("""{"return": {}}""", await first.CommandLineAsync("""{"execute": "blockdev-add", "arguments": {"driver": "null-co", "node-name": "n0"}}"""));
        Assert.Equal("""{"return": {}}""", await first.CommandLineAsync("""{"execute": "block-set-write-threshold", "arguments": {"node-name": "n0", "write-threshold": 4096}}"""));

        var user = harness.Graph.AttachUser(null, harness.Graph.GetNode("n0"), BlockPermissions.Write | BlockPermissions.ConsistentRead, BlockPermissions.All);
        long before = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        await user.Root!.WriteAsync(4096 - 512, new byte[1024], ct: TestContext.Current.CancellationToken).AsTask().WaitAsync(QmpClient.Timeout, TestContext.Current.CancellationToken);

        foreach (var client in new[] { first, second })
        {
            var ev = (await client.ReadAsync())!.AsObject();
            Assert.Equal("BLOCK_WRITE_THRESHOLD", (string)ev["event"]!);
            Assert.True(JsonNode.DeepEquals(
                JsonNode.Parse("""{"node-name": "n0", "amount-exceeded": 512, "write-threshold": 4096}"""), ev["data"]), ev.ToJsonString());
            var timestamp = ev["timestamp"]!.AsObject();
            Assert.Equal(["microseconds", "seconds"], timestamp.Select(p => p.Key).Order(StringComparer.Ordinal));
            long seconds = (long)timestamp["seconds"]!;
            long micros = (long)timestamp["microseconds"]!;
            Assert.InRange(seconds, before - 1, before + 60);
            Assert.InRange(micros, 0, 999_999);
        }

        // The third session never negotiated: the first thing it sees after negotiating is the reply.
        Assert.Equal("""{"return": {}}""", await third.CommandLineAsync("""{"execute": "qmp_capabilities"}"""));
        Assert.Equal(7, (int)(await third.CommandAsync("""{"execute": "query-version"}"""))["return"]!["qemu"]!["major"]!);

        // The threshold fired once and is now disabled: a second write raises nothing, so the
        // next line either session reads is the reply to its command.
        await user.Root!.WriteAsync(8192, new byte[512], ct: TestContext.Current.CancellationToken).AsTask().WaitAsync(QmpClient.Timeout, TestContext.Current.CancellationToken);
        Assert.True((await first.CommandAsync("""{"execute": "query-version"}""")).ContainsKey("return"));
        Assert.True((await second.CommandAsync("""{"execute": "query-version"}""")).ContainsKey("return"));
    }

    [Fact]
    public async Task Event_has_qsd_member_order_on_the_wire()
    {
        await using var harness = new QmpHarness();
        using var client = await harness.ConnectNegotiatedAsync();

        harness.Events.Emit("BLOCK_WRITE_THRESHOLD", new JsonObject { ["node-name"] = "n0", ["amount-exceeded"] = 1, ["write-threshold"] = 2 });
        string? line = await client.ReadLineAsync();

        Assert.NotNull(line);
        Assert.Matches("""^\{"timestamp": \{"seconds": \d+, "microseconds": \d+\}, "event": "BLOCK_WRITE_THRESHOLD", "data": \{.*\}\}$""", line);
    }

    [Fact]
    public async Task Closed_client_is_unregistered_from_events()
    {
        await using var harness = new QmpHarness();
        var client = await harness.ConnectNegotiatedAsync();
        client.Dispose();
        using var other = await harness.ConnectNegotiatedAsync();
        await Task.Delay(100, TestContext.Current.CancellationToken);

        harness.Events.Emit("BLOCK_WRITE_THRESHOLD", null);

        var ev = await other.ReadAsync();
        Assert.Equal("BLOCK_WRITE_THRESHOLD", (string)ev!["event"]!);
        Assert.False(ev.AsObject().ContainsKey("data"));
    }

    [Fact]
    public async Task Pretty_session_writes_indented_messages_ending_in_crlf()
    {
        await using var harness = new QmpHarness();
        using var client = harness.Connect(pretty: true);
        var raw = new StringBuilder();
        var buffer = new byte[4096];
        while (!raw.ToString().EndsWith("}\r\n", StringComparison.Ordinal))
        {
            int n = await client.Stream.ReadAsync(buffer, TestContext.Current.CancellationToken).AsTask().WaitAsync(QmpClient.Timeout, TestContext.Current.CancellationToken);
            Assert.NotEqual(0, n);
            raw.Append(Encoding.ASCII.GetString(buffer, 0, n));
        }

        Assert.StartsWith("{\n    \"QMP\": {\n        \"version\": {\n", raw.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("\r\n", raw.ToString()[..^2], StringComparison.Ordinal);
    }
}
