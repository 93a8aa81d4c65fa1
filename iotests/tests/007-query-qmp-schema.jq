# Structure checks over a saved query-qmp-schema reply; $commands is a saved query-commands reply.
# Type names other than builtins are opaque (qsd numbers them), so types are described by their
# meta-type, never by name.
.return as $s
| ($s | map({key: .name, value: .}) | from_entries) as $by
| def kind($n): if $by[$n]["meta-type"] == "builtin" then $n else ($by[$n]["meta-type"] // "MISSING") end;
  def members($n): [$by[$n].members[]? | "\(.name)\(if has("default") then "?" else "" end): \(kind(.type))"] | join(", ");
  def shape($n): if $by[$n]["meta-type"] == "object" then "{" + members($n) + "}" else kind($n) end;
  def features($e): if $e.features then " features=" + ($e.features | join(",")) else "" end;
  def describe($c): $by[$c] as $e
    | if $e == null then "\($c): MISSING"
      elif $e["meta-type"] == "command" then "command \($c) \(shape($e["arg-type"])) -> \(shape($e["ret-type"]))\(features($e))"
      else "\($e["meta-type"]) \($c) \(shape($e["arg-type"]))\(features($e))" end;
  def refs: (.["arg-type"], .["ret-type"], .["element-type"], (.members[]?.type), (.variants[]?.type)) | select(. != null);
  "every entry has a string name and meta-type: \(all($s[]; (.name | type) == "string" and (.["meta-type"] | type) == "string"))",
  "names are unique: \(($s | map(.name) | unique | length) == ($s | length))",
  "meta-types: \($s | map(.["meta-type"]) | unique | join(" "))",
  "builtins: \($s | map(select(.["meta-type"] == "builtin") | .name) | sort | join(" "))",
  "unresolved type references: \([$s[] | refs | select($by[.] == null)] | length)",
  "enums list string values: \(all($s[] | select(.["meta-type"] == "enum"); (.values | type) == "array" and all(.values[]; type == "string")))",
  "arrays name an element-type: \(all($s[] | select(.["meta-type"] == "array"); .["element-type"] != null))",
  "commands name arg-type and ret-type: \(all($s[] | select(.["meta-type"] == "command"); .["arg-type"] != null and .["ret-type"] != null))",
  "commands agree with query-commands: \(($s | map(select(.["meta-type"] == "command") | .name) | sort) == ($commands[0].return | map(.name) | sort))",
  (["qmp_capabilities", "query-version", "query-commands", "query-qmp-schema", "quit",
    "blockdev-del", "block_resize", "block-set-write-threshold", "query-block",
    "query-named-block-nodes", "x-debug-query-block-graph", "BLOCK_WRITE_THRESHOLD"][] | describe(.)),
  ($by["blockdev-add"] as $add | $by[$add["arg-type"]] as $args
   | "command blockdev-add: union on '\($args.tag)', variants include file, null-co, raw: \(["file", "null-co", "raw"] - ($args.variants | map(.case)) == [])")
