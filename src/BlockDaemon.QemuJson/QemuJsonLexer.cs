namespace BlockDaemon.QemuJson;

/// <summary>
/// QEMU's JSON lexer (qobject/json-lexer.c), byte by byte. Beyond RFC 8259 it accepts
/// single-quoted strings and \' escapes, and it defers validating escapes, UTF-8 and keywords
/// ([a-z]+) to the parser. After an error it skips input until a structural character or a
/// control character, which is why "stray" errors quote only the bad token.
/// <code>
///   number  = [ '-' ] ( '0' | [1-9] digit* ) [ '.' digit+ ] [ [eE] [+-]? digit+ ]
///   string  = '"' ( byte 0x20..0xFD but '"' '\' | '\' byte 0x20..0xFD )* '"'   (same with ')
///   blanks  = ' ' | '\t' | '\r' | '\n'
/// </code>
/// A digit right after a leading zero is an error rather than a second number.
/// The lexer is incremental: bytes may arrive in any pieces (a QMP socket), and a token longer
/// than <see cref="MaxTokenBytes"/> becomes an error token instead of growing without bound.
/// </summary>
public sealed class QemuJsonLexer
{
    /// <summary>Longest token kept; QEMU's streamer refuses messages over 64 MiB, we bound each token too.</summary>
    public const int MaxTokenBytes = 16 << 20;

    private enum State
    {
        Start,
        Recovery,
        String,
        StringEscape,
        Zero,
        Sign,
        Digits,
        Mantissa,
        MantissaDigits,
        ExponentMark,
        ExponentSign,
        ExponentDigits,
        Keyword,
    }

    private readonly List<byte> _token = [];
    private State _state = State.Start;
    private byte _quote;

    /// <summary>Set when the last error token was cut short because the token grew too long.</summary>
    public bool LastErrorWasOversize { get; private set; }

    /// <summary>Every token of a complete input, then <see cref="JsonTokenType.EndOfInput"/>.</summary>
    public static IEnumerable<JsonToken> Tokenize(byte[] input)
    {
        var lexer = new QemuJsonLexer();
        var tokens = new List<JsonToken>();
        lexer.Feed(input, tokens.Add);
        lexer.Finish(tokens.Add);
        return tokens;
    }

    /// <summary>Consumes bytes, handing each completed token to <paramref name="emit"/>.</summary>
    public void Feed(ReadOnlySpan<byte> input, Action<JsonToken> emit)
    {
        foreach (byte b in input)
        {
            // Each step either consumes the byte or, for a token that ends before it
            // (lookahead), emits the token and looks at the same byte again from Start.
            bool consumed = false;
            while (!consumed)
            {
                consumed = Process(b, atEnd: false, emit);
            }
        }
    }

    /// <summary>End of input: flushes a pending token and emits <see cref="JsonTokenType.EndOfInput"/>.</summary>
    public void Finish(Action<JsonToken> emit)
    {
        while (_state != State.Start)
        {
            Process(0, atEnd: true, emit);
        }
        emit(new JsonToken(JsonTokenType.EndOfInput, []));
    }

    private bool Process(byte b, bool atEnd, Action<JsonToken> emit)
    {
        (State next, JsonTokenType? type, bool consume) = Step(_state, b, _quote, atEnd);
        if (consume && !atEnd)
        {
            if (_token.Count >= MaxTokenBytes && next is not State.Start and not State.Recovery)
            {
                LastErrorWasOversize = true;
                emit(new JsonToken(JsonTokenType.Error, [.. _token.GetRange(0, 16)]));
                _token.Clear();
                _state = State.Recovery;
                return true;
            }
            _token.Add(b);
        }
        if (_state == State.Start && next == State.String)
        {
            _quote = b;
        }
        if (type is JsonTokenType t)
        {
            if (t == JsonTokenType.Error)
            {
                LastErrorWasOversize = false;
            }
            emit(new JsonToken(t, [.. _token]));
            _token.Clear();
        }
        if (next is State.Start or State.Recovery)
        {
            _token.Clear();
        }
        _state = next;
        return consume || atEnd;
    }

    private static (State Next, JsonTokenType? Emit, bool Consume) Step(State state, byte b, byte quote, bool atEnd)
    {
        bool digit = b is >= (byte)'0' and <= (byte)'9';
        switch (state)
        {
            case State.Start:
                return b switch
                {
                    (byte)'"' or (byte)'\'' => (State.String, null, true),
                    (byte)'0' => (State.Zero, null, true),
                    >= (byte)'1' and <= (byte)'9' => (State.Digits, null, true),
                    (byte)'-' => (State.Sign, null, true),
                    (byte)'{' => (State.Start, JsonTokenType.LeftCurly, true),
                    (byte)'}' => (State.Start, JsonTokenType.RightCurly, true),
                    (byte)'[' => (State.Start, JsonTokenType.LeftSquare, true),
                    (byte)']' => (State.Start, JsonTokenType.RightSquare, true),
                    (byte)',' => (State.Start, JsonTokenType.Comma, true),
                    (byte)':' => (State.Start, JsonTokenType.Colon, true),
                    >= (byte)'a' and <= (byte)'z' => (State.Keyword, null, true),
                    (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n' => (State.Start, null, true),
                    _ => Error(),
                };

            case State.Recovery:
                bool resume = atEnd || (b < 0x20 && b != (byte)'\t') || b >= 0xFE ||
                    b is (byte)'[' or (byte)']' or (byte)'{' or (byte)'}' or (byte)':' or (byte)',';
                return resume ? (State.Start, null, false) : (State.Recovery, null, true);

            case State.String:
                if (atEnd || b < 0x20 || b > 0xFD)
                {
                    return Error();
                }

                return b == quote ? (State.Start, JsonTokenType.String, true)
                    : b == (byte)'\\' ? (State.StringEscape, null, true)
                    : (State.String, null, true);

            case State.StringEscape:
                return !atEnd && b is >= 0x20 and <= 0xFD ? (State.String, null, true) : Error();

            case State.Zero:
                return digit ? Error()
                    : b == (byte)'.' && !atEnd ? (State.Mantissa, null, true)
                    : (State.Start, JsonTokenType.Integer, false);

            case State.Sign:
                return b == (byte)'0' ? (State.Zero, null, true)
                    : digit ? (State.Digits, null, true)
                    : Error();

            case State.Digits:
                return atEnd ? (State.Start, JsonTokenType.Integer, false)
                    : digit ? (State.Digits, null, true)
                    : b is (byte)'e' or (byte)'E' ? (State.ExponentMark, null, true)
                    : b == (byte)'.' ? (State.Mantissa, null, true)
                    : (State.Start, JsonTokenType.Integer, false);

            case State.Mantissa:
                return digit && !atEnd ? (State.MantissaDigits, null, true) : Error();

            case State.MantissaDigits:
                return atEnd ? (State.Start, JsonTokenType.Float, false)
                    : digit ? (State.MantissaDigits, null, true)
                    : b is (byte)'e' or (byte)'E' ? (State.ExponentMark, null, true)
                    : (State.Start, JsonTokenType.Float, false);

            case State.ExponentMark:
                return atEnd ? Error()
                    : b is (byte)'+' or (byte)'-' ? (State.ExponentSign, null, true)
                    : digit ? (State.ExponentDigits, null, true)
                    : Error();

            case State.ExponentSign:
                return digit && !atEnd ? (State.ExponentDigits, null, true) : Error();

            case State.ExponentDigits:
                return digit && !atEnd ? (State.ExponentDigits, null, true) : (State.Start, JsonTokenType.Float, false);

            case State.Keyword:
                return b is >= (byte)'a' and <= (byte)'z' && !atEnd
                    ? (State.Keyword, null, true)
                    : (State.Start, JsonTokenType.Keyword, false);

            default:
                throw new InvalidOperationException($"Unknown lexer state {state}");
        }

        // The offending byte belongs to the error token (unless it is the end of input).
        static (State, JsonTokenType?, bool) Error() => (State.Recovery, JsonTokenType.Error, true);
    }
}
