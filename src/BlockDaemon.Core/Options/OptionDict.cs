using System.Diagnostics.CodeAnalysis;
using BlockDaemon.Core.Errors;

namespace BlockDaemon.Core.Options;

/// <summary>
/// Driver options after the protocol layer has validated them against the schema: an ordered
/// map whose values are <see cref="string"/>, <see cref="long"/>, <see cref="ulong"/> (only above
/// long.MaxValue), <see cref="double"/>, <see cref="bool"/>, <c>null</c>, nested
/// <see cref="OptionDict"/> or <see cref="OptionList"/>. The block layer never sees JSON.
/// </summary>
public sealed class OptionDict
{
    private readonly List<KeyValuePair<string, object?>> _items = [];

    public int Count => _items.Count;

    public IEnumerable<string> Keys => _items.Select(static i => i.Key);

    public IReadOnlyList<KeyValuePair<string, object?>> Items => _items;

    public void Set(string key, object? value)
    {
        for (int i = 0; i < _items.Count; i++)
        {
            if (_items[i].Key == key)
            {
                _items[i] = new(key, value);
                return;
            }
        }
        _items.Add(new(key, value));
    }

    public bool Remove(string key) => _items.RemoveAll(i => i.Key == key) > 0;

    public bool Contains(string key) => TryGet(key, out _);

    public bool TryGet(string key, out object? value)
    {
        foreach (var item in _items)
        {
            if (item.Key == key)
            {
                value = item.Value;
                return true;
            }
        }
        value = null;
        return false;
    }

    public string? GetString(string key) => TryGet(key, out var v) ? v as string : null;

    public string GetRequiredString(string key) =>
        GetString(key) ?? throw BlockException.Invalid($"Parameter '{key}' is missing");

    public bool GetBool(string key, bool defaultValue) =>
        TryGet(key, out var v) && v is bool b ? b : defaultValue;

    public long? GetInt64(string key) => TryGet(key, out var v) ? v switch
    {
        long l => l,
        ulong u when u <= long.MaxValue => (long)u,
        _ => null,
    } : null;

    public OptionDict? GetDict(string key) => TryGet(key, out var v) ? v as OptionDict : null;

    public bool TryGetDict(string key, [NotNullWhen(true)] out OptionDict? dict)
    {
        dict = GetDict(key);
        return dict is not null;
    }

    /// <summary>A deep copy, so a caller can strip members without touching the original.</summary>
    public OptionDict Clone()
    {
        var copy = new OptionDict();
        foreach (var (key, value) in _items)
        {
            copy._items.Add(new(key, CloneValue(value)));
        }
        return copy;
    }

    internal static object? CloneValue(object? value) => value switch
    {
        OptionDict d => d.Clone(),
        OptionList l => l.Clone(),
        _ => value,
    };
}
