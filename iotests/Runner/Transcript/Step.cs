namespace BlockDaemon.IoTests.Transcript;

/// <summary>One parsed transcript line: its kind, the text after the keyword, and where it was.</summary>
/// <param name="Kind">What the step does.</param>
/// <param name="Text">Everything after the step keyword, trimmed; empty when there is none.</param>
/// <param name="Line">1-based line number in the .qmp file, for error messages.</param>
public sealed record Step(StepKind Kind, string Text, int Line);
