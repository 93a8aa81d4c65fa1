using System.Text.Json.Nodes;
using BlockDaemon.Ctl.Schema;

namespace BlockDaemon.Ctl.Tests.Unit;

/// <summary>A small introspection answer in query-qmp-schema's shape: a union with a tag, alternates, an array, every builtin.</summary>
internal static class TestSchema
{
    public const string Json = """
        [
         {"name": "blockdev-add", "meta-type": "command", "arg-type": "1", "ret-type": "0"},
         {"name": "query-x", "meta-type": "command", "arg-type": "0", "ret-type": "0"},
         {"name": "set-any", "meta-type": "command", "arg-type": "8", "ret-type": "0"},
         {"name": "X_EVENT", "meta-type": "event", "arg-type": "0"},
         {"name": "0", "meta-type": "object", "members": []},
         {"name": "1", "meta-type": "object", "members": [
            {"name": "driver", "type": "2"}, {"name": "node-name", "type": "str", "default": null},
            {"name": "read-only", "type": "bool", "default": null}, {"name": "cache", "type": "3", "default": null}],
          "tag": "driver", "variants": [{"case": "null-co", "type": "4"}, {"case": "qcow2", "type": "5"}]},
         {"name": "2", "meta-type": "enum", "values": ["null-co", "qcow2"]},
         {"name": "3", "meta-type": "object", "members": [{"name": "direct", "type": "bool", "default": null}]},
         {"name": "4", "meta-type": "object", "members": [{"name": "size", "type": "int", "default": null}]},
         {"name": "5", "meta-type": "object", "members": [
            {"name": "file", "type": "6"}, {"name": "backing", "type": "7", "default": null},
            {"name": "ratio", "type": "number", "default": null}, {"name": "tags", "type": "[str]", "default": null}]},
         {"name": "6", "meta-type": "alternate", "members": [{"type": "1"}, {"type": "str"}]},
         {"name": "7", "meta-type": "alternate", "members": [{"type": "1"}, {"type": "str"}, {"type": "null"}]},
         {"name": "8", "meta-type": "object", "members": [{"name": "value", "type": "any"}, {"name": "nothing", "type": "null", "default": null}]},
         {"name": "[str]", "meta-type": "array", "element-type": "str"},
         {"name": "str", "meta-type": "builtin", "json-type": "string"},
         {"name": "int", "meta-type": "builtin", "json-type": "int"},
         {"name": "bool", "meta-type": "builtin", "json-type": "boolean"},
         {"name": "number", "meta-type": "builtin", "json-type": "number"},
         {"name": "null", "meta-type": "builtin", "json-type": "null"},
         {"name": "any", "meta-type": "builtin", "json-type": "value"}
        ]
        """;

    public static QmpSchema Load() => new(JsonNode.Parse(Json)!.AsArray());
}
