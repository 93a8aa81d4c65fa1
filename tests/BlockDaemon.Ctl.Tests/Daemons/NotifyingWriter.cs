using System.Text;

namespace BlockDaemon.Ctl.Tests.Daemons;

/// <summary>A thread-safe StringWriter a test can wait on until some text has been written.</summary>
internal sealed class NotifyingWriter : TextWriter
{
    private readonly StringBuilder _text = new();
    private readonly SemaphoreSlim _changed = new(0);

    public override Encoding Encoding => Encoding.UTF8;

    public override void Write(char value)
    {
        lock (_text)
        {
            _text.Append(value);
        }
        _changed.Release();
    }

    public override void Write(string? value)
    {
        lock (_text)
        {
            _text.Append(value);
        }
        _changed.Release();
    }

    public override void Write(char[] buffer, int index, int count) => Write(new string(buffer, index, count));

    public override string ToString()
    {
        lock (_text)
        {
            return _text.ToString();
        }
    }

    public async Task WaitForAsync(string text, CancellationToken ct)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
        limit.CancelAfter(Blockctl.Limit);
        while (!ToString().Contains(text, StringComparison.Ordinal))
        {
            await _changed.WaitAsync(limit.Token);
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _changed.Dispose();
        }
        base.Dispose(disposing);
    }
}
