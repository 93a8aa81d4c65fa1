using System.Text;
using System.Text.Json.Nodes;

namespace BlockDaemon.QemuJson;

/// <summary>
/// Reads exactly one JSON value from a complete text, as qsd's qobject_from_json does for option
/// arguments: the streamer groups tokens into values, the first value or error wins, and anything
/// after a complete value (other than blanks) makes it "Expecting at most one JSON value".
/// </summary>
public static class QemuJsonReader
{
    /// <exception cref="QemuJsonException">With QEMU's message.</exception>
    public static JsonNode? Read(string text)
    {
        var outcome = new Outcome();
        var streamer = new QemuJsonStreamer(outcome.Emit);
        streamer.Feed(Encoding.UTF8.GetBytes(text));
        streamer.Finish();
        if (outcome.Error is not null)
        {
            throw new QemuJsonException(outcome.Error);
        }
        if (!outcome.HasValue)
        {
            throw new QemuJsonException("Expecting a JSON value");
        }
        return outcome.Value;
    }

    /// <summary>What qobject_from_json's consumer has seen so far.</summary>
    private sealed class Outcome
    {
        public bool HasValue { get; private set; }

        public JsonNode? Value { get; private set; }

        public string? Error { get; private set; }

        public void Emit(JsonNode? value, string? error)
        {
            if (HasValue)
            {
                HasValue = false;
                Value = null;
                Error = "Expecting at most one JSON value";
            }
            if (Error is not null)
            {
                return;
            }
            if (error is not null)
            {
                Error = error;
            }
            else
            {
                HasValue = true;
                Value = value;
            }
        }
    }
}
