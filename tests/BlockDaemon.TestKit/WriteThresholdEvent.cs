namespace BlockDaemon.TestKit;

/// <summary>BLOCK_WRITE_THRESHOLD as the block layer raised it.</summary>
public readonly record struct WriteThresholdEvent(string NodeName, long AmountExceeded, long WriteThreshold);
