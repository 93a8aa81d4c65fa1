namespace BlockDaemon.QemuJson;

/// <summary>A lexical token; <paramref name="Text"/> is its raw UTF-8 bytes (quotes included for strings).</summary>
public sealed record JsonToken(JsonTokenType Type, byte[] Text);
