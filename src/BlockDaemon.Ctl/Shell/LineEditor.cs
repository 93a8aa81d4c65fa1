using System.Text;

namespace BlockDaemon.Ctl.Shell;

/// <summary>
/// A small line editor for the interactive shell on a terminal (piped input never comes here):
/// cursor keys, Home/End, Ctrl-A/E/U/K/W, Backspace/Delete, Up/Down through the history, Tab to
/// complete (a second Tab lists the candidates), Ctrl-C drops the line, Ctrl-D on an empty line
/// ends the session. The line is redrawn with ANSI sequences (erase to end, cursor back).
/// </summary>
public sealed class LineEditor(History history, Func<string, (int Start, IReadOnlyList<string> Candidates)> complete)
{
    private readonly StringBuilder _line = new();
    private int _cursor;
    private string _prompt = "";

    /// <summary>Reads one line; null at end of input (Ctrl-D).</summary>
    public string? ReadLine(string prompt)
    {
        _prompt = prompt;
        _line.Clear();
        _cursor = 0;
        int historyIndex = history.Lines.Count;
        string pendingEdit = "";
        bool lastWasTab = false;
        Console.Write(prompt);
        while (true)
        {
            var key = Console.ReadKey(intercept: true);
            bool tab = false;
            switch (key.Key)
            {
                case ConsoleKey.Enter:
                    Console.WriteLine();
                    return _line.ToString();
                case ConsoleKey.Backspace:
                    if (_cursor > 0)
                    {
                        _line.Remove(--_cursor, 1);
                    }
                    break;
                case ConsoleKey.Delete:
                    if (_cursor < _line.Length)
                    {
                        _line.Remove(_cursor, 1);
                    }
                    break;
                case ConsoleKey.LeftArrow:
                    _cursor = Math.Max(0, _cursor - 1);
                    break;
                case ConsoleKey.RightArrow:
                    _cursor = Math.Min(_line.Length, _cursor + 1);
                    break;
                case ConsoleKey.Home:
                    _cursor = 0;
                    break;
                case ConsoleKey.End:
                    _cursor = _line.Length;
                    break;
                case ConsoleKey.UpArrow when historyIndex > 0:
                    if (historyIndex == history.Lines.Count)
                    {
                        pendingEdit = _line.ToString();
                    }
                    Replace(history.Lines[--historyIndex]);
                    break;
                case ConsoleKey.DownArrow when historyIndex < history.Lines.Count:
                    historyIndex++;
                    Replace(historyIndex == history.Lines.Count ? pendingEdit : history.Lines[historyIndex]);
                    break;
                case ConsoleKey.Tab:
                    tab = true;
                    Complete(listCandidates: lastWasTab);
                    break;
                default:
                    if ((key.Modifiers & ConsoleModifiers.Control) != 0)
                    {
                        switch (key.Key)
                        {
                            case ConsoleKey.D when _line.Length == 0:
                                Console.WriteLine();
                                return null;
                            case ConsoleKey.D when _cursor < _line.Length:
                                _line.Remove(_cursor, 1);
                                break;
                            case ConsoleKey.C:
                                Console.WriteLine("^C");
                                _line.Clear();
                                _cursor = 0;
                                Console.Write(prompt);
                                break;
                            case ConsoleKey.A:
                                _cursor = 0;
                                break;
                            case ConsoleKey.E:
                                _cursor = _line.Length;
                                break;
                            case ConsoleKey.U:
                                _line.Remove(0, _cursor);
                                _cursor = 0;
                                break;
                            case ConsoleKey.K:
                                _line.Remove(_cursor, _line.Length - _cursor);
                                break;
                            case ConsoleKey.W:
                                int start = _cursor;
                                while (start > 0 && _line[start - 1] == ' ')
                                {
                                    start--;
                                }
                                while (start > 0 && _line[start - 1] != ' ')
                                {
                                    start--;
                                }
                                _line.Remove(start, _cursor - start);
                                _cursor = start;
                                break;
                        }
                    }
                    else if (!char.IsControl(key.KeyChar))
                    {
                        _line.Insert(_cursor++, key.KeyChar);
                    }
                    break;
            }
            lastWasTab = tab;
            Redraw();
        }
    }

    private void Complete(bool listCandidates)
    {
        string head = _line.ToString(0, _cursor);
        var (start, candidates) = complete(head);
        if (candidates.Count == 0)
        {
            return;
        }
        string typed = head[start..];
        string common = Completer.CommonPrefix(candidates);
        if (candidates.Count == 1)
        {
            // A finished command name or value gets a blank; a key ending in '=' or '.' does not.
            common += common.EndsWith('=') || common.EndsWith('.') ? "" : " ";
        }
        if (common.Length > typed.Length)
        {
            _line.Remove(start, typed.Length).Insert(start, common);
            _cursor = start + common.Length;
        }
        else if (listCandidates)
        {
            Console.WriteLine();
            Console.WriteLine(string.Join("  ", candidates));
        }
    }

    private void Replace(string text)
    {
        _line.Clear().Append(text);
        _cursor = _line.Length;
    }

    private void Redraw()
    {
        int back = _line.Length - _cursor;
        Console.Write("\r" + _prompt + _line + "\u001b[K" + (back > 0 ? $"\u001b[{back}D" : ""));
    }
}
