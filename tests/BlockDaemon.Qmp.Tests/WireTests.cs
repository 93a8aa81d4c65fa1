using System.Text.Json.Nodes;
using BlockDaemon.Qmp.Wire;

namespace BlockDaemon.Qmp.Tests;

public sealed class WireTests
{
    [Fact]
    public void Greeting_is_byte_identical_to_qsd()
    {
        var greeting = new JsonObject
        {
            ["QMP"] = new JsonObject
            {
                ["version"] = new JsonObject
                {
                    ["qemu"] = new JsonObject { ["major"] = 7, ["minor"] = 2, ["micro"] = 22 },
                    ["package"] = "x",
                },
                ["capabilities"] = new JsonArray("oob"),
            },
        };

        Assert.Equal(
            """{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": "x"}, "capabilities": ["oob"]}}""",
            QmpJsonWriter.Write(greeting));
    }

    [Fact]
    public void Return_puts_return_before_id()
    {
        var reply = new JsonObject { ["id"] = 1, ["return"] = new JsonObject() };

        Assert.Equal("""{"return": {}, "id": 1}""", QmpJsonWriter.Write(reply));
    }

    [Fact]
    public void Error_puts_id_before_error()
    {
        var reply = new JsonObject
        {
            ["error"] = new JsonObject { ["class"] = "GenericError", ["desc"] = "d" },
            ["id"] = 5,
        };

        Assert.Equal("""{"id": 5, "error": {"class": "GenericError", "desc": "d"}}""", QmpJsonWriter.Write(reply));
    }

    [Fact]
    public void Same_bucket_members_come_newest_first()
    {
        // Order() must be a permutation that sorts by bucket and, within a bucket, later insertion first.
        string[] keys = ["node-name", "driver", "file", "size", "read-zeroes", "id", "return", "error"];
        int[] order = QDictOrder.Order(keys);

        Assert.Equal(Enumerable.Range(0, keys.Length), order.Order());
        for (int i = 1; i < order.Length; i++)
        {
            int a = QDictOrder.Bucket(keys[order[i - 1]]);
            int b = QDictOrder.Bucket(keys[order[i]]);
            Assert.True(a < b || (a == b && order[i - 1] > order[i]), $"{keys[order[i - 1]]} before {keys[order[i]]}");
        }
    }

    [Theory]
    [InlineData("caf\u00e9", "\"caf\\u00E9\"")]
    [InlineData("a\"b\\c", "\"a\\\"b\\\\c\"")]
    [InlineData("\n\r\t\b\f", "\"\\n\\r\\t\\b\\f\"")]
    [InlineData("\u0001\u001f\u007f", "\"\\u0001\\u001F\\u007F\"")]
    [InlineData("/", "\"/\"")]
    [InlineData("\U0001F600", "\"\\uD83D\\uDE00\"")]
    public void Strings_are_escaped_like_qemu(string text, string expected)
    {
        Assert.Equal(expected, QmpJsonWriter.Write(JsonValue.Create(text)));
    }

    [Theory]
    [InlineData(0.1, "0.10000000000000001")]
    [InlineData(1e20, "1e+20")]
    [InlineData(1.5, "1.5")]
    [InlineData(0.0001, "0.0001")]
    [InlineData(1e-5, "1.0000000000000001e-05")]
    [InlineData(-2.5, "-2.5")]
    [InlineData(0.0, "0")]
    public void Doubles_are_printed_with_17_significant_digits(double value, string expected)
    {
        Assert.Equal(expected, QmpJsonWriter.Write(JsonValue.Create(value)));
    }

    [Fact]
    public void Integers_print_exactly()
    {
        var array = new JsonArray(long.MaxValue, ulong.MaxValue, -1, 0);

        Assert.Equal("[9223372036854775807, 18446744073709551615, -1, 0]", QmpJsonWriter.Write(array));
    }

    [Fact]
    public void Pretty_mode_indents_by_four_spaces()
    {
        var reply = new JsonObject { ["id"] = 1, ["return"] = new JsonArray(1, true, null) };

        Assert.Equal("{\n    \"return\": [\n        1,\n        true,\n        null\n    ],\n    \"id\": 1\n}", QmpJsonWriter.Write(reply, pretty: true));
    }

    [Fact]
    public void Pretty_mode_breaks_empty_containers_like_qemu_json_writer()
    {
        // json_writer_end_object/_list always emit a pretty newline, even for an empty container.
        var reply = new JsonObject { ["return"] = new JsonObject(), ["id"] = new JsonArray() };

        Assert.Equal("{\n    \"return\": {\n    },\n    \"id\": [\n    ]\n}", QmpJsonWriter.Write(reply, pretty: true));
    }
}
