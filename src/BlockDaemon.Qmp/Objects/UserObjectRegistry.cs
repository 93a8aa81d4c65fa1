using System.Collections.Concurrent;

namespace BlockDaemon.Qmp.Objects;

/// <summary>
/// The user-creatable objects by id (QEMU's /objects container). Changed on the control loop
/// only; read also from NBD connections (a tls-authz object is looked up when a client's TLS
/// handshake ends, as qemu does), hence the concurrent dictionary.
/// </summary>
public sealed class UserObjectRegistry
{
    private readonly ConcurrentDictionary<string, UserObject> _objects = new(StringComparer.Ordinal);

    public UserObject? Find(string id) => _objects.GetValueOrDefault(id);

    public bool Contains(string id) => _objects.ContainsKey(id);

    /// <summary>Adds <paramref name="obj"/>; an id in use gets qemu's error.</summary>
    public void Add(UserObject obj)
    {
        if (!_objects.TryAdd(obj.Id, obj))
        {
            throw DuplicateId(obj.Id);
        }
    }

    /// <summary>Removes and returns the object with <paramref name="id"/>; qemu's error when there is none.</summary>
    public UserObject Remove(string id) =>
        _objects.TryRemove(id, out var removed) ? removed : throw QmpException.Generic($"object '{id}' not found");

    public static QmpException DuplicateId(string id) =>
        QmpException.Generic($"attempt to add duplicate property '{id}' to object (type 'container')");
}
