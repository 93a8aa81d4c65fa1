using BlockDaemon.Core.Io;

namespace BlockDaemon.Core.Drivers.Blkdebug;

/// <summary>
/// The rule engine of a blkdebug node, as QEMU's blkdebug behaves: the node starts in state 1.
/// An event runs the rules for it that apply in the current state: inject-error rules replace
/// the armed set (in the order they were given), set-state rules pick the next state (the
/// first given wins). A request fails while an armed rule matches its type and, if the rule
/// names a sector, covers it; events without inject-error rules leave the armed set alone. A
/// once rule disappears after it failed one request. Events and requests come from any thread.
/// </summary>
public sealed class BlkdebugRules
{
    // Guards every field below; held only for list updates, never across an await.
    private readonly Lock _lock = new();
    private readonly List<BlkdebugRule> _rules;
    private List<BlkdebugRule> _armed = [];
    private long _state = 1;

    public BlkdebugRules(IEnumerable<BlkdebugRule> rules)
    {
        _rules = [.. rules];
    }

    public long State
    {
        get
        {
            lock (_lock)
            {
                return _state;
            }
        }
    }

    public void OnEvent(DebugEvent debugEvent)
    {
        lock (_lock)
        {
            List<BlkdebugRule>? armed = null;
            long? newState = null;
            foreach (var rule in _rules)
            {
                if (rule.Event != debugEvent || (rule.State != 0 && rule.State != _state))
                {
                    continue;
                }
                if (rule.IsInjection)
                {
                    (armed ??= []).Add(rule);
                }
                else
                {
                    newState ??= rule.NewState;
                }
            }
            if (armed is not null)
            {
                _armed = armed;
            }
            if (newState is { } state)
            {
                _state = state;
            }
        }
    }

    /// <summary>The armed rule that fails this request, or null; a once rule is used up by it.</summary>
    public BlkdebugRule? Check(long offset, long length, BlkdebugIoType type)
    {
        lock (_lock)
        {
            foreach (var rule in _armed)
            {
                bool covers = rule.Offset == -1 || (length > 0 && rule.Offset >= offset && rule.Offset < offset + length);
                if (!covers || (rule.IoTypes & type) == 0)
                {
                    continue;
                }
                if (rule.Errno == 0)
                {
                    return null;
                }
                if (rule.Once)
                {
                    _armed.Remove(rule);
                    _rules.Remove(rule);
                }
                return rule;
            }
            return null;
        }
    }
}
