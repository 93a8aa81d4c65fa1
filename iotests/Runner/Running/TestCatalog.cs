namespace BlockDaemon.IoTests.Running;

/// <summary>Finds the transcripts in a tests directory and picks those named on the command line.</summary>
public static class TestCatalog
{
    public static IReadOnlyList<TestCase> Discover(string testsDirectory) =>
        System.IO.Directory.EnumerateFiles(testsDirectory, "*.qmp")
            .Select(path => new TestCase(Path.GetFileNameWithoutExtension(path), testsDirectory))
            .OrderBy(test => test.Name, StringComparer.Ordinal)
            .ToList();

    /// <summary>
    /// Selects tests by full name (<c>001-greeting</c>), number (<c>001</c>) or file path
    /// (<c>iotests/tests/001-greeting.qmp</c>). No selectors selects all.
    /// </summary>
    /// <exception cref="ArgumentException">A selector matches no test.</exception>
    public static IReadOnlyList<TestCase> Select(IReadOnlyList<TestCase> all, IReadOnlyList<string> selectors)
    {
        if (selectors.Count == 0)
        {
            return all;
        }

        var chosen = new List<TestCase>();
        foreach (var selector in selectors)
        {
            var name = Path.GetFileName(selector);
            foreach (var suffix in new[] { ".qmp", ".out" })
            {
                if (name.EndsWith(suffix, StringComparison.Ordinal))
                {
                    name = name[..^suffix.Length];
                }
            }

            var matches = all.Where(t => t.Name == name || t.Name.StartsWith(name + "-", StringComparison.Ordinal)).ToList();
            if (matches.Count == 0)
            {
                throw new ArgumentException($"no test matches '{selector}'");
            }

            chosen.AddRange(matches.Where(m => !chosen.Contains(m)));
        }

        return chosen;
    }
}
