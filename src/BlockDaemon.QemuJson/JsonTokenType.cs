namespace BlockDaemon.QemuJson;

public enum JsonTokenType
{
    LeftCurly,
    RightCurly,
    LeftSquare,
    RightSquare,
    Colon,
    Comma,
    Integer,
    Float,
    Keyword,
    String,

    /// <summary>Bytes the lexer could not make sense of, up to and including the offending one.</summary>
    Error,

    EndOfInput,
}
