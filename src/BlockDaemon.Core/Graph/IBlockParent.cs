namespace BlockDaemon.Core.Graph;

/// <summary>Whoever holds an edge to a node: another node, or a user such as an export or a job.</summary>
public interface IBlockParent
{
    /// <summary>How error messages name this parent ("node 'r0'", "block device 'drive0'").</summary>
    string ParentDescription { get; }
}
