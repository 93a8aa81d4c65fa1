namespace BlockDaemon.Core.Errors;

/// <summary>
/// The one error type of the block layer: a kind, a message written for the user (capitalised,
/// naming every party involved, in qsd's words where qsd has words for it), and where it happened.
/// </summary>
public sealed class BlockException : Exception
{
    public BlockException(BlockErrorKind kind, string message, Exception? inner = null)
        : base(message, inner)
    {
        Kind = kind;
    }

    public BlockErrorKind Kind { get; }

    /// <summary>The host errno behind an I/O error, when there is one (0 otherwise).</summary>
    public int Errno { get; init; }

    public static BlockException Invalid(string message) => new(BlockErrorKind.InvalidArgument, message);

    public static BlockException NodeNotFound(string nodeName) =>
        new(BlockErrorKind.NotFound, $"Failed to find node with node-name='{nodeName}'");
}
