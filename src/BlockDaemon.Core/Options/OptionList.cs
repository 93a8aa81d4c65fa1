namespace BlockDaemon.Core.Options;

/// <summary>A list value inside <see cref="OptionDict"/>; elements follow the same value rules.</summary>
public sealed class OptionList : List<object?>
{
    public OptionList()
    {
    }

    public OptionList(IEnumerable<object?> items)
        : base(items)
    {
    }

    public OptionList Clone() => new(this.Select(OptionDict.CloneValue));
}
