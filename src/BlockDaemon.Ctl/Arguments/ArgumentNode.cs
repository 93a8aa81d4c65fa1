using System.Text.Json.Nodes;

namespace BlockDaemon.Ctl.Arguments;

/// <summary>
/// Arguments as typed on the command line, before the schema says what they are: text leaves
/// (key=value), JSON leaves the user typed as such (key:=json), and objects or lists made from
/// dotted keys (a.b=..., a.0=...).
/// </summary>
public abstract record ArgumentNode;

/// <summary>A value given as key=value: its type comes from the schema.</summary>
public sealed record TextArgument(string Text) : ArgumentNode;

/// <summary>A value given as key:=JSON (or a whole JSON object): used exactly as written.</summary>
public sealed record JsonArgument(JsonNode? Value) : ArgumentNode;

/// <summary>Members given with dotted keys, in the order first named.</summary>
public sealed record ObjectArgument(List<KeyValuePair<string, ArgumentNode>> Members) : ArgumentNode;

/// <summary>Elements given as key.0, key.1, ... (every key of the object was an index, with none missing).</summary>
public sealed record ListArgument(List<ArgumentNode> Elements) : ArgumentNode;
