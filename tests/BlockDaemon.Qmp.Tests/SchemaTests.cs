using System.Diagnostics;
using System.Text.Json.Nodes;
using BlockDaemon.Qmp.Commands;
using BlockDaemon.Qmp.Schema;

namespace BlockDaemon.Qmp.Tests;

public sealed class SchemaTests
{
    [Fact]
    public void Every_schema_command_has_a_handler_and_vice_versa()
    {
        var schema = QmpSchema.LoadEmbedded();
        var registry = CommandRegistry.CreateDefault();

        registry.VerifyAgainst(schema);

        Assert.Equal(schema.Commands.Select(c => c.Name).Order(StringComparer.Ordinal), registry.Names.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void VerifyAgainst_names_a_handler_without_schema_entry()
    {
        var registry = CommandRegistry.CreateDefault();
        registry.Add("x-no-such-command", (_, _) => Task.FromResult<JsonNode?>(null));

        var e = Assert.Throws<InvalidOperationException>(() => registry.VerifyAgainst(QmpSchema.LoadEmbedded()));

        Assert.Contains("x-no-such-command", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Introspection_describes_the_same_entities_as_check_py()
    {
        var (expected, ours) = IntrospectBoth();

        Assert.Equal(expected.Count, ours.Count);
        var byName = ours.ToDictionary(e => (string)e!["name"]!, StringComparer.Ordinal);
        foreach (var entity in expected)
        {
            string name = (string)entity!["name"]!;
            Assert.True(byName.TryGetValue(name, out var mine), $"Entity {name} is missing from Introspection.Build");
            Assert.True(JsonNode.DeepEquals(entity, mine),
                $"Entity {name} differs:\n  check.py: {entity.ToJsonString()}\n  ours:     {mine!.ToJsonString()}");
        }
    }

    // Builtins are forced onto the work list right after the commands and events, so they are
    // described before the types in first-use order; check.py and qsd 7.2 describe them where first used.
    [Fact]
    public void Introspection_lists_entities_in_check_py_order()
    {
        var (expected, ours) = IntrospectBoth();

        Assert.Equal(expected.Select(e => (string)e!["name"]!), ours.Select(e => (string)e!["name"]!));
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.True(JsonNode.DeepEquals(expected[i], ours[i]),
                $"Entity {i} differs:\n  check.py: {expected[i]!.ToJsonString()}\n  ours:     {ours[i]!.ToJsonString()}");
        }
    }

    [Fact]
    public void Introspection_always_describes_number_and_null()
    {
        var ours = Introspection.Build(QmpSchema.LoadEmbedded());

        foreach (var (name, jsonType) in new[] { ("number", "number"), ("null", "null"), ("str", "string"), ("int", "int"), ("bool", "boolean"), ("any", "value") })
        {
            var entity = Assert.Single(ours, e => (string)e!["name"]! == name);
            Assert.Equal("builtin", (string)entity!["meta-type"]!);
            Assert.Equal(jsonType, (string)entity["json-type"]!);
        }
    }

    /// <summary>check.py's entities, and ours without the builtins check.py does not describe.</summary>
    private static (List<JsonNode?> Expected, List<JsonNode?> Ours) IntrospectBoth()
    {
        string root = RepoRoot.Find();
        string output;
        try
        {
            output = RunPython(Path.Combine(root, "protocol-schema", "check.py"), root);
        }
        catch (System.ComponentModel.Win32Exception)
        {
            Assert.Skip("python3 is not installed");
            throw;
        }
        var expected = JsonNode.Parse(output)!.AsArray().ToList();
        var ours = Introspection.Build(QmpSchema.LoadEmbedded()).ToList();
        var expectedNames = expected.Select(e => (string)e!["name"]!).ToHashSet(StringComparer.Ordinal);
        var extra = ours.Where(e => !expectedNames.Contains((string)e!["name"]!)).ToList();
        Assert.All(extra, e => Assert.Equal("builtin", (string)e!["meta-type"]!));
        return (expected, ours.Where(e => expectedNames.Contains((string)e!["name"]!)).ToList());
    }

    private static string RunPython(string script, string workingDirectory)
    {
        var info = new ProcessStartInfo("python3")
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(script);
        info.ArgumentList.Add("--introspect");
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(60_000))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail("check.py --introspect timed out");
        }
        Assert.True(process.ExitCode == 0, $"check.py --introspect exited {process.ExitCode}: {stderr.Result}");
        return stdout.Result;
    }
}

internal static class RepoRoot
{
    public static string Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "BlockDaemon.sln")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException("BlockDaemon.sln not found above " + AppContext.BaseDirectory);
    }
}
