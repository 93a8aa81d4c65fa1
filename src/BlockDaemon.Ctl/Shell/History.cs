namespace BlockDaemon.Ctl.Shell;

/// <summary>
/// The shell's command history: at most <see cref="Capacity"/> lines, a line equal to the one
/// before it is not repeated, and the file (when given) is rewritten with the newest lines at exit.
/// </summary>
public sealed class History
{
    public const int Capacity = 1000;

    private readonly List<string> _lines = [];
    private readonly string? _file;

    public History(string? file)
    {
        _file = file;
        if (file is not null && File.Exists(file))
        {
            try
            {
                foreach (string line in File.ReadLines(file))
                {
                    Add(line);
                }
            }
            catch (IOException)
            {
                // An unreadable history file costs the user their history, not their session.
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
    }

    public IReadOnlyList<string> Lines => _lines;

    public void Add(string line)
    {
        if (string.IsNullOrWhiteSpace(line) || (_lines.Count > 0 && _lines[^1] == line))
        {
            return;
        }
        _lines.Add(line);
        if (_lines.Count > Capacity)
        {
            _lines.RemoveRange(0, _lines.Count - Capacity);
        }
    }

    public void Save()
    {
        if (_file is null)
        {
            return;
        }
        try
        {
            File.WriteAllLines(_file, _lines);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    /// <summary>$BLOCKCTL_HISTORY, else ~/.blockctl_history; null when there is no home directory.</summary>
    public static string? DefaultFile(Func<string, string?> environment)
    {
        string? explicitFile = environment("BLOCKCTL_HISTORY");
        if (!string.IsNullOrEmpty(explicitFile))
        {
            return explicitFile;
        }
        string? home = environment("HOME");
        return string.IsNullOrEmpty(home) ? null : Path.Combine(home, ".blockctl_history");
    }
}
