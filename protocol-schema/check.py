#!/usr/bin/env python3
"""Validate blockd's protocol schema and compare it with qemu-storage-daemon 7.2.

Usage:
    python3 protocol-schema/check.py [--schema PATH] [--reference PATH]
                                     [--introspect [--unmask]] [--quiet]

Without options the script
  1. loads protocol-schema/schema.json and every module it includes,
  2. validates them against the format described in README.md,
  3. builds the query-qmp-schema reply the way QEMU's qapi-introspect does
     (flattened objects, "[T]" arrays, integer builtins folded into "int",
     type names masked as numbers in order of first use),
  4. compares every command and event we define with the same-named entity in
     the reference dump (qsd 7.2's raw query-qmp-schema output), walking the
     whole type graph reachable from it: member names, order, optionality,
     types, features, enum values, union tags and variants, alternates.

--introspect prints the reply we would send (step 3) as JSON instead of the
report; add --unmask to keep the real type names.  The C# loader is expected
to produce exactly this output.

Exit status: 0 when there is no error, 1 when there are errors, 2 on usage or
I/O problems.  Deliberate narrowing relative to qsd (enum values we do not
implement, union variants we never produce) is reported as NOTE and only
accepted for the types listed in NARROWED_ENUMS / OMITTED_VARIANTS /
OMITTED_MEMBERS below;
anything else that differs is an ERROR.

Standard library only.
"""

import argparse
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_SCHEMA = os.path.join(HERE, "schema.json")
DEFAULT_REFERENCE = "/work/shared/reference/qsd-7.2-schema.json"

# Deliberate differences from qsd 7.2.  Keys are our (QAPI) type names.
NARROWED_ENUMS = {
    "BlockdevDriver": "lists only the block drivers blockd implements",
    "SocketAddressType": "blockd listens on Unix and TCP sockets only (no vsock, no passed fds)",
    "BlockExportType": "blockd exports through NBD only",
    "TransactionActionKind": "lists only the transaction actions blockd implements",
    "ObjectType": "lists only the object types blockd has (secrets, TLS credentials, authz-simple, iothread)",
}
OMITTED_VARIANTS = {
    "ImageInfoSpecific": "blockd implements qcow2 only and never emits the "
                         "other formats' data",
}
# Optional members of qsd's objects that we leave out, keyed by our type name.
OMITTED_MEMBERS = {
    "BlockdevOptionsBlkdebug": ({"config"}, "blkdebug rules are given inline; blockd reads no blkdebug config files"),
    "BlockdevOptionsQcow2": ({"overlap-check", "encrypt"},
                             "blockd opens no encrypted images, and its metadata "
                             "overlap guard is always on"),
    "ImageInfoSpecificQCow2": ({"encrypt"}, "blockd opens no encrypted images"),
    "BlockdevCreateOptionsQcow2": ({"encrypt"}, "blockd creates no encrypted images"),
    "InetSocketAddress": ({"mptcp"}, "blockd opens plain TCP sockets, not multipath TCP"),
    "UnixSocketAddress": ({"abstract", "tight"}, "blockd binds file-system sockets only"),
    "BlockExportOptions": ({"fixed-iothread", "iothread"}, "blockd has no iothreads: I/O runs on the thread pool"),
}

# Builtin types and the JSON type introspection reports for them.
BUILTINS = {
    "str": "string",
    "int": "int", "int8": "int", "int16": "int", "int32": "int",
    "int64": "int", "uint8": "int", "uint16": "int", "uint32": "int",
    "uint64": "int", "size": "int",
    "number": "number",
    "bool": "boolean",
    "null": "null",
    "any": "value",
}

KINDS = ("enum", "struct", "union", "alternate", "command", "event")
COMMON_KEYS = {"doc", "member-docs", "features"}
ALLOWED_KEYS = {
    "enum": {"enum", "data"},
    "struct": {"struct", "base", "data"},
    "union": {"union", "base", "discriminator", "data"},
    "alternate": {"alternate", "data"},
    "command": {"command", "data", "boxed", "returns", "allow-oob"},
    "event": {"event", "data", "boxed"},
}

RE_TYPE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
RE_COMMAND_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
RE_EVENT_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
RE_MEMBER_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
RE_ENUM_VALUE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
RE_FEATURE = re.compile(r"^[a-z][a-z0-9-]*$")

EMPTY = "q_empty"


class Report:
    def __init__(self, quiet=False):
        self.errors = []
        self.warnings = []
        self.notes = []
        self.quiet = quiet

    def error(self, where, msg):
        self.errors.append("ERROR   %s: %s" % (where, msg))

    def warning(self, where, msg):
        self.warnings.append("WARNING %s: %s" % (where, msg))

    def note(self, where, msg):
        self.notes.append("NOTE    %s: %s" % (where, msg))


# ---------------------------------------------------------------------------
# Model

class Member:
    def __init__(self, name, optional, typ, features):
        self.name = name
        self.optional = optional
        self.type = typ          # type reference: str name or ("array", ref)
        self.features = features


class Definition:
    def __init__(self, kind, name, raw, module):
        self.kind = kind
        self.name = name
        self.raw = raw
        self.module = module
        self.features = []
        # filled by the checker
        self.members = []        # own members (struct, inline base, args)
        self.values = []         # enum: list of (name, features)
        self.branches = []       # alternate: list of (name, typeref)
        self.variants = []       # union: list of (case, struct name)
        self.base = None         # struct/union: named base
        self.discriminator = None
        self.arg_type = None     # command/event: type name or None
        self.ret_type = None     # command: typeref or None
        self.allow_oob = False
        self.boxed = False


def where(d):
    return "%s.json: %s %s" % (d.module, d.kind, d.name)


class Schema:
    def __init__(self, report):
        self.r = report
        self.defs = {}           # name -> Definition (single namespace)
        self.order = []          # definitions in file order
        self.implicit = {}       # implicit arg types: name -> [Member]

    # -- loading ----------------------------------------------------------

    def load(self, schema_path):
        try:
            with open(schema_path, encoding="utf-8") as f:
                top = json.load(f)
        except (OSError, ValueError) as e:
            self.r.error(os.path.basename(schema_path), "cannot load: %s" % e)
            return
        where_top = os.path.basename(schema_path)
        if not isinstance(top, dict) or set(top) != {"include"}:
            self.r.error(where_top, 'must be an object with exactly the key "include"')
            return
        inc = top["include"]
        if not isinstance(inc, list) or not all(isinstance(x, str) for x in inc):
            self.r.error(where_top, '"include" must be a list of file names')
            return
        if len(set(inc)) != len(inc):
            self.r.error(where_top, "a module is included twice")
        base_dir = os.path.dirname(os.path.abspath(schema_path))
        listed = set()
        for fn in inc:
            listed.add(fn)
            self.load_module(os.path.join(base_dir, fn), fn)
        for fn in sorted(os.listdir(base_dir)):
            if fn.endswith(".json") and fn != os.path.basename(schema_path) \
                    and fn not in listed:
                self.r.warning(fn, "module file is not listed in %s" % where_top)

    def load_module(self, path, fn):
        try:
            with open(path, encoding="utf-8") as f:
                mod = json.load(f)
        except (OSError, ValueError) as e:
            self.r.error(fn, "cannot load: %s" % e)
            return
        if not isinstance(mod, dict):
            self.r.error(fn, "module must be a JSON object")
            return
        extra = set(mod) - {"module", "doc", "definitions"}
        if extra:
            self.r.error(fn, "unknown keys %s" % sorted(extra))
        modname = mod.get("module")
        if not isinstance(modname, str) or not modname:
            self.r.error(fn, '"module" must be a non-empty string')
            modname = fn[:-5]
        elif modname + ".json" != fn:
            self.r.error(fn, '"module" is %r but the file is %s' % (modname, fn))
        if not isinstance(mod.get("doc"), str) or not mod.get("doc").strip():
            self.r.error(fn, 'module needs a non-empty "doc"')
        defs = mod.get("definitions")
        if not isinstance(defs, list):
            self.r.error(fn, '"definitions" must be a list')
            return
        for i, raw in enumerate(defs):
            self.add_definition(raw, modname, "%s.json: definition #%d" % (modname, i))

    def add_definition(self, raw, modname, loc):
        if not isinstance(raw, dict):
            self.r.error(loc, "must be a JSON object")
            return
        kinds = [k for k in KINDS if k in raw]
        if len(kinds) != 1:
            self.r.error(loc, "must have exactly one of %s, has %s" % (KINDS, kinds))
            return
        kind = kinds[0]
        name = raw[kind]
        if not isinstance(name, str):
            self.r.error(loc, "%s name must be a string" % kind)
            return
        d = Definition(kind, name, raw, modname)
        w = where(d)
        extra = set(raw) - ALLOWED_KEYS[kind] - COMMON_KEYS
        if extra:
            self.r.error(w, "unknown keys %s" % sorted(extra))
        pattern = {"command": RE_COMMAND_NAME, "event": RE_EVENT_NAME}.get(kind, RE_TYPE_NAME)
        if not pattern.match(name):
            self.r.error(w, "invalid name")
        if name in BUILTINS or name == EMPTY or name.startswith("q_"):
            self.r.error(w, "name is reserved")
        if name in self.defs:
            self.r.error(w, "duplicate name (already defined in %s.json as %s)"
                         % (self.defs[name].module, self.defs[name].kind))
            return
        doc = raw.get("doc")
        if not isinstance(doc, str) or not doc.strip():
            self.r.error(w, 'missing or empty "doc"')
        d.features = self.check_features(raw.get("features", []), w)
        self.defs[name] = d
        self.order.append(d)

    def check_features(self, feats, w):
        if not isinstance(feats, list):
            self.r.error(w, '"features" must be a list')
            return []
        out = []
        for f in feats:
            if not isinstance(f, str) or not RE_FEATURE.match(f):
                self.r.error(w, "invalid feature %r" % (f,))
            elif f in out:
                self.r.error(w, "duplicate feature %r" % f)
            else:
                out.append(f)
        return out

    # -- type references ---------------------------------------------------

    def parse_typeref(self, t, w, what):
        """TYPE := name | [TYPE] (one element, no nested arrays)."""
        if isinstance(t, str):
            if t not in BUILTINS and t not in self.defs:
                self.r.error(w, "%s: undefined type %r" % (what, t))
                return None
            if t in self.defs and self.defs[t].kind in ("command", "event"):
                self.r.error(w, "%s: %r is a %s, not a type" % (what, t, self.defs[t].kind))
                return None
            return t
        if isinstance(t, list):
            if len(t) != 1:
                self.r.error(w, "%s: an array type must have exactly one element" % what)
                return None
            if isinstance(t[0], list):
                self.r.error(w, "%s: arrays of arrays are not supported" % what)
                return None
            if not isinstance(t[0], str):
                self.r.error(w, "%s: array element must be a type name" % what)
                return None
            el = self.parse_typeref(t[0], w, what)
            return ("array", el) if el is not None else None
        self.r.error(w, "%s: invalid type %r" % (what, t))
        return None

    def kind_of(self, ref):
        if ref is None:
            return None
        if isinstance(ref, tuple):
            return "array"
        if ref in BUILTINS:
            return "builtin"
        return self.defs[ref].kind

    def parse_members(self, data, w, what):
        """Member dict: {"name" | "*name": TYPE | {"type": TYPE, "features": [...]}}."""
        if not isinstance(data, dict):
            self.r.error(w, "%s must be a JSON object of members" % what)
            return []
        out = []
        seen = set()
        for key, val in data.items():
            optional = key.startswith("*")
            name = key[1:] if optional else key
            if not RE_MEMBER_NAME.match(name):
                self.r.error(w, "invalid member name %r" % key)
                continue
            if name in seen:
                self.r.error(w, "duplicate member %r" % name)
                continue
            seen.add(name)
            feats = []
            if isinstance(val, dict):
                extra = set(val) - {"type", "features"}
                if extra or "type" not in val:
                    self.r.error(w, "member %r: a member object needs \"type\" and may only "
                                    "have \"features\"" % name)
                    continue
                feats = self.check_features(val.get("features", []), "%s member %s" % (w, name))
                val = val["type"]
            ref = self.parse_typeref(val, w, "member %r" % name)
            if ref is None:
                continue
            out.append(Member(name, optional, ref, feats))
        return out

    # -- checking ----------------------------------------------------------

    def check(self):
        for d in self.order:
            getattr(self, "check_" + d.kind)(d)
        for d in self.order:
            if d.kind in ("struct", "union"):
                self.check_object_closure(d)
            if d.kind == "union":
                self.check_union_variants(d)
            if d.kind == "alternate":
                self.check_alternate_branches(d)
        for d in self.order:
            self.check_member_docs(d)

    def check_enum(self, d):
        w = where(d)
        data = d.raw.get("data")
        if not isinstance(data, list) or not data:
            self.r.error(w, '"data" must be a non-empty list of values')
            return
        for v in data:
            if isinstance(v, str):
                name, feats = v, []
            elif isinstance(v, dict) and isinstance(v.get("name"), str) \
                    and set(v) <= {"name", "features"}:
                name = v["name"]
                feats = self.check_features(v.get("features", []), "%s value %s" % (w, name))
            else:
                self.r.error(w, "invalid enum value %r" % (v,))
                continue
            if not RE_ENUM_VALUE.match(name):
                self.r.error(w, "invalid enum value %r" % name)
            if name in [n for n, _ in d.values]:
                self.r.error(w, "duplicate enum value %r" % name)
                continue
            d.values.append((name, feats))

    def check_struct(self, d):
        w = where(d)
        if "base" in d.raw:
            b = d.raw["base"]
            if not isinstance(b, str) or b not in self.defs or self.defs[b].kind != "struct":
                self.r.error(w, "base must name a struct")
            else:
                d.base = b
        if "data" not in d.raw:
            self.r.error(w, 'missing "data"')
            return
        d.members = self.parse_members(d.raw["data"], w, '"data"')

    def check_union(self, d):
        w = where(d)
        b = d.raw.get("base")
        if isinstance(b, str):
            if b not in self.defs or self.defs[b].kind != "struct":
                self.r.error(w, "base must name a struct or be an inline member object")
            else:
                d.base = b
        elif isinstance(b, dict):
            d.members = self.parse_members(b, w, '"base"')
        else:
            self.r.error(w, '"base" is required (struct name or inline members)')
        disc = d.raw.get("discriminator")
        if not isinstance(disc, str):
            self.r.error(w, '"discriminator" must be a member name')
        else:
            d.discriminator = disc
        data = d.raw.get("data")
        if not isinstance(data, dict):
            self.r.error(w, '"data" must map enum values to struct names')
            return
        for case, t in data.items():
            if not isinstance(t, str) or t not in self.defs or self.defs[t].kind != "struct":
                self.r.error(w, "variant %r must name a struct" % case)
                continue
            d.variants.append((case, t))

    def check_alternate(self, d):
        w = where(d)
        data = d.raw.get("data")
        if not isinstance(data, dict) or not data:
            self.r.error(w, '"data" must be a non-empty object of branches')
            return
        for name, t in data.items():
            if not RE_MEMBER_NAME.match(name):
                self.r.error(w, "invalid branch name %r" % name)
            if not isinstance(t, str):
                self.r.error(w, "branch %r: must be a type name (no arrays, no features)" % name)
                continue
            ref = self.parse_typeref(t, w, "branch %r" % name)
            if ref is not None:
                d.branches.append((name, ref))

    def _args(self, d, w, allow_returns):
        d.boxed = d.raw.get("boxed", False)
        if not isinstance(d.boxed, bool):
            self.r.error(w, '"boxed" must be a boolean')
            d.boxed = False
        data = d.raw.get("data")
        if data is None:
            if d.boxed:
                self.r.error(w, '"boxed" needs "data" naming a type')
        elif isinstance(data, str):
            if data not in self.defs:
                self.r.error(w, "data: undefined type %r" % data)
            else:
                k = self.defs[data].kind
                if k == "struct" or (k == "union" and d.boxed):
                    d.arg_type = data
                else:
                    self.r.error(w, "data must name a struct (or a union with \"boxed\": true), "
                                    "%r is a %s" % (data, k))
        elif isinstance(data, dict):
            if d.boxed:
                self.r.error(w, '"boxed" needs "data" naming a type, not inline members')
            name = "q_obj_%s-arg" % d.name
            self.implicit[name] = self.parse_members(data, w, '"data"')
            d.members = self.implicit[name]
            if data:
                d.arg_type = name
        else:
            self.r.error(w, '"data" must be an object of members or a type name')

    def check_command(self, d):
        w = where(d)
        self._args(d, w, True)
        if "returns" in d.raw:
            ref = self.parse_typeref(d.raw["returns"], w, "returns")
            k = self.kind_of(ref)
            if ref is not None and k not in ("struct", "union", "array"):
                self.r.error(w, "returns must be an object type or an array, not %s" % k)
            d.ret_type = ref
        oob = d.raw.get("allow-oob", False)
        if not isinstance(oob, bool):
            self.r.error(w, '"allow-oob" must be a boolean')
            oob = False
        d.allow_oob = oob

    def check_event(self, d):
        self._args(d, where(d), False)

    # flattened members of a struct or union (base first, then own)
    def flat_members(self, name, _stack=()):
        d = self.defs[name]
        if name in _stack:
            return []
        out = []
        if d.base:
            out.extend(self.flat_members(d.base, _stack + (name,)))
        if d.kind == "struct" or (d.kind == "union" and d.base is None):
            out.extend(d.members)
        return out

    def check_object_closure(self, d):
        w = where(d)
        # base cycles
        seen = [d.name]
        b = d.base
        while b:
            if b in seen:
                self.r.error(w, "base chain is circular")
                return
            seen.append(b)
            b = self.defs[b].base
        names = [m.name for m in self.flat_members(d.name)]
        dups = sorted({n for n in names if names.count(n) > 1})
        if dups:
            self.r.error(w, "members clash with base members: %s" % dups)

    def check_union_variants(self, d):
        w = where(d)
        members = {m.name: m for m in self.flat_members(d.name)}
        if d.discriminator is None:
            return
        tag = members.get(d.discriminator)
        if tag is None:
            self.r.error(w, "discriminator %r is not a member of the base" % d.discriminator)
            return
        if tag.optional:
            self.r.error(w, "discriminator %r must not be optional" % d.discriminator)
        if self.kind_of(tag.type) != "enum":
            self.r.error(w, "discriminator %r must have an enum type" % d.discriminator)
            return
        values = [v for v, _ in self.defs[tag.type].values]
        for case, t in d.variants:
            if case not in values:
                self.r.error(w, "variant %r is not a value of enum %s" % (case, tag.type))
            clash = {m.name for m in self.flat_members(t)} & set(members)
            if clash:
                self.r.error(w, "variant %r (%s) has members clashing with the base: %s"
                             % (case, t, sorted(clash)))

    def check_alternate_branches(self, d):
        w = where(d)
        seen = {}
        for name, ref in d.branches:
            k = self.kind_of(ref)
            if k == "array":
                self.r.error(w, "branch %r: arrays are not allowed in alternates" % name)
                continue
            if k == "builtin":
                jt = BUILTINS[ref]
                if jt == "value":
                    self.r.error(w, "branch %r: 'any' is not allowed in alternates" % name)
                    continue
                cls = {"string": "string", "int": "number", "number": "number",
                       "boolean": "boolean", "null": "null"}[jt]
            elif k == "enum":
                cls = "string"
            elif k in ("struct", "union"):
                cls = "object"
            else:
                self.r.error(w, "branch %r: %s types are not allowed in alternates" % (name, k))
                continue
            if cls in seen:
                self.r.error(w, "branches %r and %r are not distinguishable on the wire (both %s)"
                             % (seen[cls], name, cls))
            seen[cls] = name

    def check_member_docs(self, d):
        w = where(d)
        md = d.raw.get("member-docs", {})
        if not isinstance(md, dict) or not all(isinstance(v, str) and v.strip()
                                               for v in md.values()):
            self.r.error(w, '"member-docs" must map member names to non-empty strings')
            return
        if d.kind == "enum":
            expected = [v for v, _ in d.values]
        elif d.kind == "alternate":
            expected = [n for n, _ in d.branches]
        else:
            # own members as written (the union's inline base, inline args)
            raw = d.raw.get("base") if d.kind == "union" else d.raw.get("data")
            expected = [k.lstrip("*") for k in raw] if isinstance(raw, dict) else []
        missing = [n for n in expected if n not in md]
        extra = [n for n in md if n not in expected]
        if missing:
            self.r.error(w, "member-docs missing for %s" % missing)
        if extra:
            self.r.error(w, "member-docs for unknown members %s" % extra)


# ---------------------------------------------------------------------------
# Introspection, mirroring QEMU's scripts/qapi/introspect.py

class Introspector:
    def __init__(self, schema, unmask=False):
        self.s = schema
        self.unmask = unmask
        self.used = []           # type refs in order of first use
        self.names = {}          # type name -> masked name
        self.out = []

    def canon(self, ref):
        """Fold the integer builtins into int, as QEMU does."""
        if isinstance(ref, tuple):
            return ("array", self.canon(ref[1]))
        if ref in BUILTINS and BUILTINS[ref] == "int":
            return "int"
        return ref

    def mask(self, name):
        if self.unmask:
            return name
        if name not in self.names:
            self.names[name] = str(len(self.names))
        return self.names[name]

    def use(self, ref):
        ref = self.canon(ref)
        if ref not in self.used:
            self.used.append(ref)
        if isinstance(ref, tuple):
            return "[" + self.use(ref[1]) + "]"
        if ref in BUILTINS:
            return ref
        return self.mask(ref)

    def tree(self, name, meta, obj, features=None):
        e = {"name": name, "meta-type": meta}
        e.update(obj)
        if features:
            e["features"] = list(features)
        self.out.append(e)

    def member(self, m):
        e = {"name": m.name, "type": self.use(m.type)}
        if m.optional:
            e["default"] = None
        if m.features:
            e["features"] = list(m.features)
        return e

    def run(self):
        s = self.s
        for d in s.order:
            if d.kind == "command":
                obj = {"arg-type": self.use(d.arg_type or EMPTY),
                       "ret-type": self.use(d.ret_type or EMPTY)}
                if d.allow_oob:
                    obj["allow-oob"] = True
                self.tree(d.name, "command", obj, d.features)
            elif d.kind == "event":
                self.tree(d.name, "event", {"arg-type": self.use(d.arg_type or EMPTY)},
                          d.features)
        i = 0
        while i < len(self.used):
            self.visit_type(self.used[i])
            i += 1
        return self.out

    def variants(self, d):
        """Union variants in file order, then enum values without one (q_empty)."""
        tag = {m.name: m for m in self.s.flat_members(d.name)}[d.discriminator]
        out = list(d.variants)
        have = {c for c, _ in out}
        for v, _ in self.s.defs[tag.type].values:
            if v not in have:
                out.append((v, EMPTY))
        return out

    def visit_type(self, ref):
        s = self.s
        if isinstance(ref, tuple):
            el = self.use(ref[1])
            self.tree("[" + el + "]", "array", {"element-type": el})
            return
        if ref in BUILTINS:
            self.tree(ref, "builtin", {"json-type": BUILTINS[ref]})
            return
        if ref == EMPTY:
            self.tree(self.mask(ref), "object", {"members": []})
            return
        if ref in s.implicit:
            self.tree(self.mask(ref), "object",
                      {"members": [self.member(m) for m in s.implicit[ref]]})
            return
        d = s.defs[ref]
        name = self.mask(ref)
        if d.kind == "enum":
            members = []
            for v, f in d.values:
                e = {"name": v}
                if f:
                    e["features"] = list(f)
                members.append(e)
            self.tree(name, "enum", {"members": members, "values": [v for v, _ in d.values]},
                      d.features)
        elif d.kind == "alternate":
            self.tree(name, "alternate",
                      {"members": [{"type": self.use(t)} for _, t in d.branches]}, d.features)
        elif d.kind in ("struct", "union"):
            obj = {"members": [self.member(m) for m in s.flat_members(ref)]}
            if d.kind == "union":
                obj["tag"] = d.discriminator
                obj["variants"] = [{"case": c, "type": self.use(t)} for c, t in self.variants(d)]
            self.tree(name, "object", obj, d.features)
        else:
            raise AssertionError(ref)


# ---------------------------------------------------------------------------
# Comparison with the reference dump

def is_extension(entity):
    """A command of blockd's own (not in qsd): named x-blockdaemon-*, feature 'unstable'."""
    return (entity["meta-type"] == "command" and entity["name"].startswith("x-blockdaemon-")
            and "unstable" in entity.get("features", []))


class Comparer:
    def __init__(self, ours, ref, report):
        self.o = {e["name"]: e for e in ours}      # unmasked names
        self.t = {e["name"]: e for e in ref}       # qsd's masked names
        self.r = report
        self.done = set()

    def run(self):
        ours_entities = [e for e in self.o.values() if e["meta-type"] in ("command", "event")]
        for e in ours_entities:
            name = e["name"]
            t = self.t.get(name)
            if t is None and is_extension(e):
                continue
            if t is None or t["meta-type"] != e["meta-type"]:
                self.r.error(name, "%s does not exist in qsd 7.2" % e["meta-type"])
                continue
            self.cmp_entity(e, t, name)
        have = {e["name"] for e in ours_entities}
        missing = [e["name"] for e in self.t.values()
                   if e["meta-type"] in ("command", "event") and e["name"] not in have]
        return have, missing

    def feats(self, a, b, path):
        fa, fb = sorted(a.get("features", [])), sorted(b.get("features", []))
        if fa != fb:
            self.r.error(path, "features differ: ours %s, qsd %s" % (fa, fb))

    def cmp_entity(self, e, t, path):
        self.feats(e, t, path)
        if e["meta-type"] == "command":
            if bool(e.get("allow-oob")) != bool(t.get("allow-oob")):
                self.r.error(path, "allow-oob differs")
            self.cmp_type(e["arg-type"], t["arg-type"], path + " (arguments)")
            self.cmp_type(e["ret-type"], t["ret-type"], path + " (returns)")
        else:
            self.cmp_type(e["arg-type"], t["arg-type"], path + " (data)")

    def label(self, name):
        return name if not name.startswith("[") else "array " + name

    def cmp_type(self, a, b, path):
        if (a, b) in self.done:
            return
        self.done.add((a, b))
        ea, eb = self.o.get(a), self.t.get(b)
        if ea is None or eb is None:
            self.r.error(path, "type %r / %r missing from an introspection dump" % (a, b))
            return
        if ea["meta-type"] != eb["meta-type"]:
            self.r.error(path, "ours is %s %s, qsd has %s" % (ea["meta-type"], a, eb["meta-type"]))
            return
        mt = ea["meta-type"]
        p = "%s -> %s" % (path, self.label(a))
        if mt == "builtin":
            if a != b:
                self.r.error(path, "builtin %s, qsd has %s" % (a, b))
        elif mt == "array":
            self.cmp_type(ea["element-type"], eb["element-type"], path + "[]")
        elif mt == "enum":
            self.cmp_enum(a, ea, eb, p)
        elif mt == "alternate":
            self.feats(ea, eb, p)
            ma, mb = ea["members"], eb["members"]
            if len(ma) != len(mb):
                self.r.error(p, "alternate has %d branches, qsd has %d" % (len(ma), len(mb)))
            for i, (x, y) in enumerate(zip(ma, mb)):
                self.cmp_type(x["type"], y["type"], "%s branch %d" % (p, i))
        elif mt == "object":
            self.cmp_object(a, ea, eb, p)

    def cmp_enum(self, a, ea, eb, p):
        self.feats(ea, eb, p)
        va, vb = ea["values"], eb["values"]
        if va != vb:
            it = iter(vb)
            subseq = all(v in it for v in va)
            if subseq and a in NARROWED_ENUMS:
                self.r.note(p, "enum narrowed to %d of qsd's %d values (%s)"
                            % (len(va), len(vb), NARROWED_ENUMS[a]))
            elif subseq:
                self.r.error(p, "enum lacks values %s (add the type to NARROWED_ENUMS if "
                                "deliberate)" % [v for v in vb if v not in va])
            else:
                extra = [v for v in va if v not in vb]
                if extra:
                    self.r.error(p, "enum values not in qsd: %s" % extra)
                else:
                    self.r.error(p, "enum value order differs: ours %s, qsd %s" % (va, vb))
        fb = {m["name"]: sorted(m.get("features", [])) for m in eb["members"]}
        for m in ea["members"]:
            f = sorted(m.get("features", []))
            if m["name"] in fb and f != fb[m["name"]]:
                self.r.error(p, "features of value %r differ: ours %s, qsd %s"
                             % (m["name"], f, fb[m["name"]]))

    def cmp_object(self, a, ea, eb, p):
        self.feats(ea, eb, p)
        na = [m["name"] for m in ea["members"]]
        nb = [m["name"] for m in eb["members"]]
        allowed, why = OMITTED_MEMBERS.get(a, (set(), ""))
        optional_b = {m["name"] for m in eb["members"] if "default" in m}
        left_out = [n for n in nb if n not in na and n in allowed and n in optional_b]
        if left_out:
            self.r.note(p, "optional members left out: %s (%s)" % (left_out, why))
            nb = [n for n in nb if n not in left_out]
        if na != nb:
            miss = [n for n in nb if n not in na]
            extra = [n for n in na if n not in nb]
            if miss:
                self.r.error(p, "members missing: %s" % miss)
            if extra:
                self.r.error(p, "members not in qsd: %s" % extra)
            if not miss and not extra:
                self.r.error(p, "member order differs: ours %s, qsd %s" % (na, nb))
        mb = {m["name"]: m for m in eb["members"]}
        for m in ea["members"]:
            y = mb.get(m["name"])
            if y is None:
                continue
            mp = "%s.%s" % (p, m["name"])
            if ("default" in m) != ("default" in y):
                self.r.error(mp, "ours is %s, qsd's is %s"
                             % ("optional" if "default" in m else "mandatory",
                                "optional" if "default" in y else "mandatory"))
            elif m.get("default") != y.get("default"):
                self.r.error(mp, "default differs")
            self.feats(m, y, mp)
            self.cmp_type(m["type"], y["type"], mp)
        if ea.get("tag") != eb.get("tag"):
            self.r.error(p, "union tag differs: ours %r, qsd %r" % (ea.get("tag"), eb.get("tag")))
            return
        if "tag" not in ea:
            return
        va = [(v["case"], v["type"]) for v in ea["variants"]]
        vb = [(v["case"], v["type"]) for v in eb["variants"]]
        db = dict(vb)
        ca = [c for c, _ in va]
        common_b = [c for c, _ in vb if c in ca]
        extra = [c for c in ca if c not in db]
        if extra:
            self.r.error(p, "variants not in qsd: %s" % extra)
        if [c for c in ca if c in db] != common_b:
            self.r.error(p, "variant order differs: ours %s, qsd %s" % (ca, [c for c, _ in vb]))
        # qsd cases we lack must be explained by a narrowed tag enum
        tag_type = {m["name"]: m["type"] for m in ea["members"]}[ea["tag"]]
        tag_values = self.o[tag_type]["values"]
        omitted = []
        for c, tb in vb:
            if c not in ca:
                if c in tag_values:
                    self.r.error(p, "variant %r missing" % c)
                continue
            ta = dict(va)[c]
            a_empty = not self.o[ta]["members"] and "tag" not in self.o[ta]
            b_empty = self.t[tb]["meta-type"] == "object" and not self.t[tb]["members"] \
                and "tag" not in self.t[tb]
            if a_empty and not b_empty:
                omitted.append(c)
                continue
            self.cmp_type(ta, tb, "%s variant %s" % (p, c))
        if omitted:
            if a in OMITTED_VARIANTS:
                self.r.note(p, "variants without members here but with members in qsd: %s (%s)"
                            % (omitted, OMITTED_VARIANTS[a]))
            else:
                self.r.error(p, "variants %s have no members but do in qsd (add the type to "
                                "OMITTED_VARIANTS if deliberate)" % omitted)


# ---------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--schema", default=DEFAULT_SCHEMA)
    ap.add_argument("--reference", default=DEFAULT_REFERENCE)
    ap.add_argument("--introspect", action="store_true",
                    help="print our query-qmp-schema reply instead of the report")
    ap.add_argument("--unmask", action="store_true",
                    help="with --introspect: keep real type names")
    ap.add_argument("--quiet", action="store_true", help="print errors only")
    args = ap.parse_args()

    rep = Report(args.quiet)
    schema = Schema(rep)
    schema.load(args.schema)
    if schema.order:
        schema.check()

    if rep.errors:
        for line in rep.errors:
            print(line)
        print("%d error(s); schema is not valid, comparison skipped" % len(rep.errors))
        return 1

    if args.introspect:
        out = Introspector(schema, unmask=args.unmask).run()
        try:
            json.dump(out, sys.stdout, indent=1)
            sys.stdout.write("\n")
            sys.stdout.flush()
        except BrokenPipeError:
            sys.stderr.close()
        return 0

    ours = Introspector(schema, unmask=True).run()
    # unreachable types are not introspected; point them out
    reachable = {e["name"] for e in ours}
    bases = {d.base for d in schema.order if d.base}
    for d in schema.order:
        if d.kind not in ("command", "event") and d.name not in reachable \
                and d.name not in bases:
            rep.warning(where(d), "not reachable from any command or event")

    try:
        with open(args.reference, encoding="utf-8") as f:
            ref = json.load(f)
    except (OSError, ValueError) as e:
        print("cannot load reference %s: %s" % (args.reference, e))
        return 2
    have, missing = Comparer(ours, ref, rep).run()

    for line in rep.errors:
        print(line)
    if not args.quiet:
        for line in rep.warnings + rep.notes:
            print(line)
        ncmd = sum(1 for d in schema.order if d.kind == "command")
        nev = sum(1 for d in schema.order if d.kind == "event")
        ntypes = len(schema.order) - ncmd - nev
        print("schema: %d modules, %d commands, %d events, %d types; "
              "introspection: %d entities"
              % (len({d.module for d in schema.order}), ncmd, nev, ntypes, len(ours)))
        print("qsd 7.2 commands/events not (yet) in our schema: %d" % len(missing))
    print("%d error(s), %d warning(s), %d note(s)"
          % (len(rep.errors), len(rep.warnings), len(rep.notes)))
    return 1 if rep.errors else 0


if __name__ == "__main__":
    sys.exit(main())
