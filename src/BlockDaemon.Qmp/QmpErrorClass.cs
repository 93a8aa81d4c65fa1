namespace BlockDaemon.Qmp;

/// <summary>QMP error classes (QEMU's QapiErrorClass); qsd answers almost everything with GenericError.</summary>
public enum QmpErrorClass
{
    GenericError,
    CommandNotFound,
    DeviceNotActive,
    DeviceNotFound,
    KVMMissingCap,
}
