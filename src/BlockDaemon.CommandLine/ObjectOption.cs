using System.Text.Json.Nodes;

namespace BlockDaemon.CommandLine;

/// <summary>
/// <c>--object</c>: arguments for object-add. <paramref name="Properties"/> holds every member but
/// <c>qom-type</c> (including <c>id</c>, which the schema layer checks after the type); string
/// leaves when <paramref name="FromKeyval"/>.
/// </summary>
public sealed record ObjectOption(string QomType, JsonObject Properties, bool FromKeyval) : DaemonOption;
