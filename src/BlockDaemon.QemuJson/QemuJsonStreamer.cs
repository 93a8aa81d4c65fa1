using System.Text;
using System.Text.Json.Nodes;

namespace BlockDaemon.QemuJson;

/// <summary>
/// Splits a byte stream into top-level JSON values the way QEMU's json-streamer.c does: tokens
/// are collected while braces/brackets are open, and each complete group is parsed on its own.
/// A lexer error, or a group over the limits, is reported once and the streamer starts afresh,
/// so a client that sends garbage gets an error per bad message and can go on. Every limit is
/// enforced before memory is spent, so a hostile peer cannot make it buffer without bound.
/// </summary>
public sealed class QemuJsonStreamer
{
    /// <summary>Bracket depth refused (QEMU's MAX_NESTING).</summary>
    public const int MaxNesting = 1024;

    /// <summary>Bytes of tokens in one message; QEMU allows 64 MiB, we allow 16 MiB.</summary>
    public const int MaxMessageBytes = 16 << 20;

    /// <summary>Tokens in one message (QEMU's MAX_TOKEN_COUNT is 2 Mi; we allow 1 Mi).</summary>
    public const int MaxTokenCount = 1 << 20;

    private readonly QemuJsonLexer _lexer = new();
    private readonly List<JsonToken> _pending = [];
    private readonly Action<JsonNode?, string?> _emit;
    private readonly Action<JsonToken> _onToken;
    private int _braces;
    private int _brackets;
    private long _bytes;

    /// <param name="emit">Called with (value, null) for each message, or (null, error) for each bad one.</param>
    public QemuJsonStreamer(Action<JsonNode?, string?> emit)
    {
        _emit = emit;
        _onToken = OnToken;
    }

    public void Feed(ReadOnlySpan<byte> data) => _lexer.Feed(data, _onToken);

    /// <summary>End of the stream: a pending incomplete message is parsed (and so reported).</summary>
    public void Finish() => _lexer.Finish(_onToken);

    private void OnToken(JsonToken token)
    {
        switch (token.Type)
        {
            case JsonTokenType.LeftCurly:
                _braces++;
                break;
            case JsonTokenType.RightCurly:
                _braces--;
                break;
            case JsonTokenType.LeftSquare:
                _brackets++;
                break;
            case JsonTokenType.RightSquare:
                _brackets--;
                break;
            case JsonTokenType.Error:
                EmitError(_lexer.LastErrorWasOversize
                    ? "JSON token size limit exceeded"
                    : "JSON parse error, stray '" + Encoding.UTF8.GetString(token.Text) + "'");
                return;
            case JsonTokenType.EndOfInput:
                if (_pending.Count > 0)
                {
                    EmitParsed();
                }
                return;
        }

        if (_bytes + token.Text.Length + 1 > MaxMessageBytes)
        {
            EmitError("JSON token size limit exceeded");
            return;
        }
        if (_pending.Count + 1 > MaxTokenCount)
        {
            EmitError("JSON token count limit exceeded");
            return;
        }
        if (_braces + _brackets > MaxNesting)
        {
            EmitError("JSON nesting depth limit exceeded");
            return;
        }

        _pending.Add(token);
        _bytes += token.Text.Length;
        if ((_braces > 0 || _brackets > 0) && _braces >= 0 && _brackets >= 0)
        {
            return;
        }
        EmitParsed();
    }

    private void EmitParsed()
    {
        JsonNode? value = QemuJsonParser.Parse(_pending, out string? error);
        Reset();
        _emit(error is null ? value : null, error);
    }

    private void EmitError(string error)
    {
        Reset();
        _emit(null, error);
    }

    private void Reset()
    {
        _pending.Clear();
        _braces = 0;
        _brackets = 0;
        _bytes = 0;
    }
}
