#!/usr/bin/python3
# gst-sharedmatrix
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Generates docs/elements.md from the elements a GStreamer plugin registers.

Everything comes from the registry (factory metadata, pad templates, GType
hierarchy, GParamSpecs, signals) except two things GObject does not store:
the "Example launch line" part of each element's `SECTION:element-<name>`
gtk-doc comment and the doc comments of its signals, which are read from the
element sources when --source-dir is given. Any element the plugin registers
is described; nothing here names one.

The output is deterministic: it holds no paths, no plugin version and no
value read from an element instance (defaults are the GParamSpec defaults),
so it does not depend on the build directory, on whether the CUDA backend
was built or on whether a GPU is present.

  /usr/bin/python3 docs/gen-element-reference.py --plugin-dir BUILD/plugin/elements \\
      --source-dir plugin/elements --output docs/elements.md

With --check FILE it also compares the result with FILE and exits with 1,
printing a unified diff and the command that updates FILE, when they differ.
--optional-element NAME (repeatable) names an element a build may lack (one
that needs an optional dependency): when NAME is not registered, its table
row and section are left out of FILE before the comparison, so a build
without the dependency checks the other elements against the same file.
"""

import argparse
import difflib
import os
import re
import shutil
import sys
import tempfile


def setup_environment(plugin_dir, registry_dir):
    # Only the plugin under test: an installed copy of it, or anything else
    # in the system plugin path, must not change the result.
    os.environ["GST_PLUGIN_PATH_1_0"] = os.path.abspath(plugin_dir)
    os.environ["GST_PLUGIN_SYSTEM_PATH_1_0"] = ""
    os.environ["GST_REGISTRY_1_0"] = os.path.join(registry_dir, "registry.bin")
    os.environ["GST_REGISTRY_FORK"] = "no"
    for var in ("GST_PLUGIN_PATH", "GST_PLUGIN_SYSTEM_PATH",
                "GST_PLUGIN_SCANNER_1_0", "GST_PLUGIN_SCANNER"):
        os.environ.pop(var, None)


# ---- values -----------------------------------------------------------------

INT_LIMITS = {
    2**31 - 1: "G_MAXINT",
    -2**31: "G_MININT",
    2**32 - 1: "G_MAXUINT",
    2**63 - 1: "G_MAXINT64",
    -2**63: "G_MININT64",
    2**64 - 1: "G_MAXUINT64",
}
FLOAT_LIMITS = {
    1.7976931348623157e308: "G_MAXDOUBLE",
    -1.7976931348623157e308: "-G_MAXDOUBLE",
    2.2250738585072014e-308: "G_MINDOUBLE",
    3.4028234663852886e38: "G_MAXFLOAT",
    -3.4028234663852886e38: "-G_MAXFLOAT",
    1.1754943508222875e-38: "G_MINFLOAT",
}


def fmt_number(v, is_float):
    if is_float:
        v = float(v)
        return FLOAT_LIMITS.get(v, repr(v))
    v = int(v)
    return INT_LIMITS.get(v, str(v))


class Reference:
    def __init__(self, Gst, GObject, source_dir):
        self.Gst = Gst
        self.GObject = GObject
        self.sources = self._read_sources(source_dir)
        self.numeric = {
            GObject.TYPE_CHAR: False, GObject.TYPE_UCHAR: False,
            GObject.TYPE_INT: False, GObject.TYPE_UINT: False,
            GObject.TYPE_LONG: False, GObject.TYPE_ULONG: False,
            GObject.TYPE_INT64: False, GObject.TYPE_UINT64: False,
            GObject.TYPE_FLOAT: True, GObject.TYPE_DOUBLE: True,
        }

    # -- gtk-doc comments from the sources --

    @staticmethod
    def _read_sources(source_dir):
        comments = []
        if not source_dir:
            return comments
        paths = []
        for root, dirs, files in os.walk(source_dir):
            dirs.sort()
            paths += [os.path.join(root, f) for f in sorted(files)
                      if f.endswith((".c", ".h"))]
        for path in paths:
            with open(path, encoding="utf-8") as f:
                text = f.read()
            for m in re.finditer(r"/\*\*(.*?)\*/", text, re.S):
                lines = []
                for line in m.group(1).split("\n"):
                    line = re.sub(r"^\s*\* ?", "", line.rstrip())
                    lines.append(line)
                while lines and not lines[0].strip():
                    lines.pop(0)
                while lines and not lines[-1].strip():
                    lines.pop()
                if lines:
                    comments.append(lines)
        return comments

    def _comment(self, identifier):
        for lines in self.sources:
            if lines[0].strip() in (identifier + ":", identifier):
                return lines[1:]
        return None

    @staticmethod
    def gtkdoc_to_markdown(lines):
        """gtk-doc markup to Markdown: |[ ]| blocks, #Type:prop, %CONST, @arg."""
        out = []
        in_code = False
        for line in lines:
            if not in_code:
                m = re.match(r"^\s*\|\[(?:<!--.*?-->)?\s*(.*)$", line)
                if m:
                    if out and out[-1].strip():
                        out.append("")
                    out.append("```")
                    in_code = True
                    if m.group(1):
                        out.append(m.group(1))
                    continue
                line = re.sub(r"#([A-Za-z_][A-Za-z0-9_]*)(::?)([a-z][a-z0-9-]*)",
                              r"`\3`", line)
                line = re.sub(r"#([A-Za-z_][A-Za-z0-9_]*)", r"`\1`", line)
                line = re.sub(r"%([A-Za-z_][A-Za-z0-9_]*)", r"`\1`", line)
                line = re.sub(r"(?<![\w`])@([a-z_][a-z0-9_]*)", r"`\1`", line)
                out.append(line)
            else:
                m = re.match(r"^(.*?)\]\|\s*(.*)$", line)
                if m:
                    if m.group(1).strip():
                        out.append(m.group(1))
                    out.append("```")
                    in_code = False
                    if m.group(2):
                        out += ["", Reference.gtkdoc_to_markdown([m.group(2)])[0]]
                    continue
                out.append(line)
        if in_code:
            out.append("```")
        return out

    def example_lines(self, name):
        """The "Example launch line" part of SECTION:element-<name>, if any."""
        lines = self._comment("SECTION:element-" + name)
        if lines is None:
            return None
        start = None
        for i, line in enumerate(lines):
            if re.match(r"^#+\s*Example launch lines?\s*$", line.strip(), re.I):
                start = i + 1
                break
        if start is None:
            return None
        body = []
        for line in lines[start:]:
            if re.match(r"^#{1,2}\s", line) and not line.startswith("###"):
                break
            body.append(line)
        while body and not body[-1].strip():
            body.pop()
        while body and not body[0].strip():
            body.pop(0)
        if not body:
            return None
        md = self.gtkdoc_to_markdown(body)
        # code blocks in the element docs are shell command lines
        return ["```sh" if l == "```" and md[:i + 1].count("```") % 2 == 1 else l
                for i, l in enumerate(md)]

    def signal_doc(self, type_name, signal_name):
        """(argument names, description lines, returns text) from the source."""
        lines = self._comment("%s::%s" % (type_name, signal_name))
        if lines is None:
            return [], [], None
        args, desc, returns = [], [], None
        i = 0
        while i < len(lines):
            m = re.match(r"^@([a-z_][a-z0-9_]*):\s*(.*)$", lines[i])
            if not m:
                break
            args.append(m.group(1))
            i += 1
            while i < len(lines) and lines[i].startswith(" ") and lines[i].strip():
                i += 1
        rest = lines[i:]
        for j, line in enumerate(rest):
            m = re.match(r"^Returns:\s*(.*)$", line)
            if m:
                text = [m.group(1)] + [l.strip() for l in rest[j + 1:]
                                        if l.strip() and not re.match(r"^\w+:", l)]
                returns = re.sub(r"^(\([^)]*\)\s*)+:?\s*", "", " ".join(text))
                rest = rest[:j]
                break
        rest = [l for l in rest if not re.match(r"^(Since|Deprecated):", l)]
        while rest and not rest[0].strip():
            rest.pop(0)
        while rest and not rest[-1].strip():
            rest.pop()
        desc = self.gtkdoc_to_markdown(rest)
        if returns:
            returns = self.gtkdoc_to_markdown([returns])[0]
        return args, desc, returns

    # -- types --

    def type_name(self, gtype):
        GObject = self.GObject
        name = GObject.type_name(gtype)
        if gtype == GObject.TYPE_STRING:
            return "gchar *"
        if gtype == GObject.TYPE_NONE:
            return "void"
        fundamental = GObject.type_fundamental(gtype)
        if fundamental in (GObject.TYPE_OBJECT, GObject.TYPE_BOXED,
                           GObject.TYPE_POINTER, GObject.TYPE_INTERFACE,
                           GObject.TYPE_PARAM, GObject.TYPE_VARIANT):
            return name + " *"
        return name

    def hierarchy(self, gtype):
        chain = [gtype]
        while chain[-1].parent.name != "invalid":
            chain.append(chain[-1].parent)
        return list(reversed(chain))

    # -- caps --

    def caps_lines(self, caps):
        if caps.is_any():
            return ["ANY"]
        if caps.is_empty():
            return ["EMPTY"]
        out = []
        for i in range(caps.get_size()):
            s = caps.get_structure(i)
            head = s.get_name()
            features = caps.get_features(i)
            if features is not None:
                f = features.to_string()
                if f != "memory:SystemMemory":
                    head += "(%s)" % f
            out.append(head)
            for j in range(s.n_fields()):
                field = s.nth_field_name(j)
                single = s.copy()
                for other in [s.nth_field_name(k) for k in range(s.n_fields())]:
                    if other != field:
                        single.remove_field(other)
                text = single.to_string()
                text = text[text.index(",") + 1:].strip().rstrip(";")
                name, _, value = text.partition("=")
                out.append("    %s: %s" % (name.strip(), value.strip()))
        return out

    # -- properties --

    def flag_words(self, pspec):
        GObject, Gst = self.GObject, self.Gst
        f = int(pspec.flags)
        words = []
        readable = bool(f & int(GObject.ParamFlags.READABLE))
        writable = bool(f & int(GObject.ParamFlags.WRITABLE))
        if readable and not writable:
            words.append("read-only")
        elif writable and not readable:
            words.append("write-only")
        else:
            words += ["readable", "writable"]
        if f & int(GObject.ParamFlags.CONSTRUCT_ONLY):
            words.append("construct-only")
        elif f & int(GObject.ParamFlags.CONSTRUCT):
            words.append("construct")
        for bit, word in ((Gst.PARAM_CONTROLLABLE, "controllable"),
                          (Gst.PARAM_MUTABLE_READY, "mutable-ready"),
                          (Gst.PARAM_MUTABLE_PAUSED, "mutable-paused"),
                          (Gst.PARAM_MUTABLE_PLAYING, "mutable-playing"),
                          (Gst.PARAM_CONDITIONALLY_AVAILABLE,
                           "conditionally-available")):
            if f & int(bit):
                words.append(word)
        if f & int(GObject.ParamFlags.DEPRECATED):
            words.append("deprecated")
        return words

    def enum_values(self, pspec):
        cls = getattr(pspec, "enum_class", None)
        if cls is not None:
            return [(int(k), v.value_nick, v.value_name)
                    for k, v in sorted(cls.__enum_values__.items())], False
        cls = getattr(pspec, "flags_class", None)
        if cls is not None:
            return [(int(k), v.first_value_nick, v.first_value_name)
                    for k, v in sorted(cls.__flags_values__.items())
                    if bin(int(k)).count("1") == 1], True
        return None, False

    def default_text(self, pspec):
        GObject = self.GObject
        try:
            value = pspec.default_value
        except Exception:
            return None
        vt = pspec.value_type
        fundamental = GObject.type_fundamental(vt)
        if fundamental == GObject.TYPE_ENUM:
            nick = pspec.enum_class.__enum_values__.get(int(value))
            return "`%s` (%d)" % (nick.value_nick if nick is not None else "?",
                                  int(value))
        if fundamental == GObject.TYPE_FLAGS:
            bits = int(value)
            nicks = [v.first_value_nick for k, v in
                     sorted(pspec.flags_class.__flags_values__.items())
                     if int(k) and bin(int(k)).count("1") == 1 and bits & int(k)]
            return "`%s` (0x%x)" % ("+".join(nicks) if nicks else "(none)", bits)
        if fundamental == GObject.TYPE_BOOLEAN:
            return "`true`" if value else "`false`"
        if fundamental == GObject.TYPE_STRING:
            return "`NULL`" if value is None else '`"%s"`' % value
        if fundamental in self.numeric:
            return "`%s`" % fmt_number(value, self.numeric[fundamental])
        if value is None:
            return "`NULL`"
        return None

    def range_text(self, pspec):
        fundamental = self.GObject.type_fundamental(pspec.value_type)
        if fundamental not in self.numeric:
            return None
        lo = getattr(pspec, "minimum", None)
        hi = getattr(pspec, "maximum", None)
        if lo is None or hi is None:
            return None
        is_float = self.numeric[fundamental]
        return "%s – %s" % (fmt_number(lo, is_float), fmt_number(hi, is_float))

    def type_text(self, pspec):
        GObject = self.GObject
        vt = pspec.value_type
        fundamental = GObject.type_fundamental(vt)
        name = GObject.type_name(vt)
        kind = {GObject.TYPE_ENUM: "enum", GObject.TYPE_FLAGS: "flags",
                GObject.TYPE_OBJECT: "object", GObject.TYPE_BOXED: "boxed",
                GObject.TYPE_INTERFACE: "interface"}.get(fundamental)
        if vt == GObject.TYPE_STRING:
            name, kind = "gchararray", "string"
        return "`%s`" % name + (" (%s)" % kind if kind else "")

    def property_section(self, pspec, owner, own_type):
        out = []
        title = "#### `%s`" % pspec.name
        if owner != own_type:
            title += " (from `%s`)" % owner
        out.append(title)
        out.append("")
        facts = [self.type_text(pspec)]
        default = self.default_text(pspec)
        if default is not None:
            facts.append("default " + default)
        rng = self.range_text(pspec)
        if rng is not None:
            facts.append("range " + rng)
        facts.append(", ".join(self.flag_words(pspec)))
        out.append(" · ".join(facts))
        out.append("")
        blurb = pspec.blurb or ""
        if blurb:
            out.append(blurb.rstrip(".") + ".")
            out.append("")
        values, is_flags = self.enum_values(pspec)
        if values:
            out.append("| %s | nick | description |" % ("bit" if is_flags else "value"))
            out.append("| --- | --- | --- |")
            for v, nick, desc in values:
                out.append("| %s | `%s` | %s |" % (("0x%x" % v) if is_flags else v,
                                                   nick, desc.replace("|", "\\|")))
            out.append("")
        return out

    # -- signals --

    def signal_section(self, sid, gtype, own_type):
        GObject = self.GObject
        q = GObject.signal_query(sid)
        owner = GObject.type_name(q.itype)
        flags = int(q.signal_flags)
        action = bool(flags & int(GObject.SignalFlags.ACTION))
        args, desc, returns = self.signal_doc(owner, q.signal_name)
        names = args
        params = [(self.type_name(gtype), names[0] if names else "element")]
        for i, pt in enumerate(q.param_types):
            name = names[i + 1] if len(names) > i + 1 else "arg%d" % (i + 1)
            params.append((self.type_name(pt), name))
        sig = "%s %s (%s)" % (self.type_name(q.return_type), q.signal_name,
                              ", ".join("%s%s%s" % (t, "" if t.endswith("*") else " ", n)
                                        for t, n in params))
        sig = sig.replace("* ", "*")
        out = ["#### `%s`%s" % (q.signal_name,
                                "" if owner == own_type else " (from `%s`)" % owner), ""]
        out += ["```c", sig, "```", ""]
        words = [w for bit, w in ((GObject.SignalFlags.RUN_FIRST, "run-first"),
                                  (GObject.SignalFlags.RUN_LAST, "run-last"),
                                  (GObject.SignalFlags.RUN_CLEANUP, "run-cleanup"),
                                  (GObject.SignalFlags.NO_RECURSE, "no-recurse"),
                                  (GObject.SignalFlags.DETAILED, "detailed"),
                                  (GObject.SignalFlags.ACTION, "action"),
                                  (GObject.SignalFlags.NO_HOOKS, "no-hooks"))
                 if flags & int(bit)]
        out.append("Flags: " + ", ".join(words) + ".")
        out.append("")
        if action:
            call = "g_signal_emit_by_name (element, \"%s\"%s%s)" % (
                q.signal_name,
                "".join(", %s" % n for _, n in params[1:]),
                "" if q.return_type == GObject.TYPE_NONE else ", &ret")
            out += ["Emit it with `%s`; from Python `element.emit(\"%s\"%s)`." % (
                call, q.signal_name, "".join(", %s" % n for _, n in params[1:])), ""]
        if desc:
            out += desc + [""]
        if returns:
            out += ["Returns: " + returns, ""]
        return out, action

    # -- one element --

    def element(self, factory):
        GObject, Gst = self.GObject, self.Gst
        factory = factory.load()
        gtype = factory.get_element_type()
        GObject.TypeClass.ref(gtype)   # runs class_init: signals, properties
        own_type = GObject.type_name(gtype)
        name = factory.get_name()
        meta = lambda key: factory.get_metadata(key) or ""
        out = ["## %s" % name, ""]
        out.append("*%s* — `%s`" % (meta("long-name"), meta("klass")))
        out.append("")
        out.append(meta("description").rstrip(".") + ".")
        out.append("")
        out.append("| | |")
        out.append("| --- | --- |")
        out.append("| type | %s |" % " → ".join("`%s`" % GObject.type_name(t)
                                                 for t in self.hierarchy(gtype)))
        ifaces = sorted(GObject.type_name(t) for t in GObject.type_interfaces(gtype))
        if ifaces:
            out.append("| interfaces | %s |" % ", ".join("`%s`" % i for i in ifaces))
        rank = factory.get_rank()
        rank_names = {0: "none", 64: "marginal", 128: "secondary", 256: "primary"}
        out.append("| rank | %s |" % rank_names.get(rank, str(rank)))
        if meta("author"):
            out.append("| author | %s |" % meta("author"))
        for key in sorted(factory.get_metadata_keys() or []):
            if key not in ("long-name", "klass", "description", "author"):
                out.append("| %s | %s |" % (key, meta(key)))
        uri_type = factory.get_uri_type()
        if uri_type != Gst.URIType.UNKNOWN:
            protocols = factory.get_uri_protocols() or []
            out.append("| URI handler | %s: %s |" % (
                "sink" if uri_type == Gst.URIType.SINK else "source",
                ", ".join(protocols)))
        out.append("")

        example = self.example_lines(name)
        if example:
            out += ["### Example launch line", ""] + example + [""]

        out += ["### Pad templates", ""]
        templates = sorted(factory.get_static_pad_templates(),
                           key=lambda t: (0 if t.direction == Gst.PadDirection.SINK else 1,
                                          t.name_template))
        if not templates:
            out += ["None.", ""]
        for t in templates:
            direction = {Gst.PadDirection.SINK: "sink", Gst.PadDirection.SRC: "src"}.get(
                t.direction, "unknown")
            presence = {Gst.PadPresence.ALWAYS: "always",
                        Gst.PadPresence.SOMETIMES: "sometimes",
                        Gst.PadPresence.REQUEST: "request"}[t.presence]
            out.append("`%s` — %s, %s" % (t.name_template, direction, presence))
            out += ["", "```"] + self.caps_lines(t.static_caps.get()) + ["```", ""]

        # Every property but GObject's and GstObject's (name, parent), the
        # element's own first, then each ancestor's, nearest first; by name.
        skip = ("GObject", "GInitiallyUnowned", "GstObject")
        chain = [GObject.type_name(t) for t in reversed(self.hierarchy(gtype))]
        pspecs = [p for p in GObject.list_properties(gtype)
                  if GObject.type_name(p.owner_type) not in skip]
        pspecs.sort(key=lambda p: (chain.index(GObject.type_name(p.owner_type)),
                                   p.name))
        out += ["### Properties", ""]
        if not pspecs:
            out += ["None besides `name` and `parent`.", ""]
        for p in pspecs:
            out += self.property_section(p, GObject.type_name(p.owner_type), own_type)

        # Signals of the element type and its ancestors below GstElement.
        signals, actions = [], []
        for t in reversed(self.hierarchy(gtype)):
            tn = GObject.type_name(t)
            if tn in ("GstElement", "GstObject", "GInitiallyUnowned", "GObject"):
                break
            ids = sorted(GObject.signal_list_ids(t),
                         key=lambda i: GObject.signal_query(i).signal_name)
            for sid in ids:
                lines, action = self.signal_section(sid, gtype, own_type)
                (actions if action else signals).append(lines)
        if signals:
            out += ["### Signals", ""]
            for s in signals:
                out += s
        if actions:
            out += ["### Action signals", ""]
            for s in actions:
                out += s
        return out

    def document(self, plugin_name):
        Gst = self.Gst
        registry = Gst.Registry.get()
        plugin = registry.find_plugin(plugin_name)
        if plugin is None:
            raise SystemExit("gen-element-reference: plugin %r not found in %s"
                             % (plugin_name, os.environ["GST_PLUGIN_PATH_1_0"]))
        factories = sorted((f for f in registry.get_feature_list_by_plugin(plugin_name)
                            if isinstance(f, Gst.ElementFactory)),
                           key=lambda f: f.get_name())
        out = ["<!-- Generated by docs/gen-element-reference.py from the elements the",
               "     %s plugin registers. Do not edit: after a build, run" % plugin_name,
               "     `ninja -C BUILDDIR update-element-reference` -->",
               "",
               "# Element reference",
               "",
               "Plugin `%s`: %s (license %s, source module `%s`)."
               % (plugin.get_name(), plugin.get_description().rstrip("."),
                  plugin.get_license(), plugin.get_source()),
               "",
               "| element | long name | classification |",
               "| --- | --- | --- |"]
        for f in factories:
            out.append("| [`%s`](#%s) | %s | `%s` |" % (
                f.get_name(), f.get_name(), f.get_metadata("long-name"),
                f.get_metadata("klass")))
        out += ["",
                "Property flags: *readable*, *writable*, *read-only*; *mutable-ready*: "
                "can only be set in the NULL and READY states; *mutable-paused*: also in "
                "PAUSED; *mutable-playing*: in any state, also while playing; "
                "*controllable*: can be driven by a `GstControlSource`. Defaults are "
                "the GParamSpec defaults. The `name` and `parent` properties every "
                "`GstObject` has are not listed.",
                "",
                "Generated from the registered elements (`gst-inspect-1.0 ELEMENT` shows "
                "the same) by `docs/gen-element-reference.py`; the `docs-element-reference` "
                "test fails when this file is out of date.",
                ""]
        for f in factories:
            out += self.element(f)
        text = "\n".join(out)
        text = re.sub(r"\n{3,}", "\n\n", text).rstrip("\n") + "\n"
        return text


def without_element(text, name):
    """@text (the reference) without element @name's table row and section."""
    row = "| [`%s`](#%s) |" % (name, name)
    lines = [line for line in text.splitlines(True) if not line.startswith(row)]
    text = "".join(lines)
    start = text.find("\n## %s\n" % name)
    if start < 0:
        return text
    end = text.find("\n## ", start + 1)
    return text[:start] + (text[end:] if end >= 0 else "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--plugin-dir", required=True,
                    help="directory holding the built plugin (BUILD/plugin/elements)")
    ap.add_argument("--plugin", default="sharedmatrix", help="plugin name")
    ap.add_argument("--source-dir",
                    help="element sources, for example launch lines and signal docs")
    ap.add_argument("--output", "-o", required=True, help="Markdown file to write")
    ap.add_argument("--check", metavar="FILE",
                    help="compare the output with FILE; exit 1 with a diff if they differ")
    ap.add_argument("--update-command",
                    default="ninja -C build update-element-reference",
                    help="command that updates the checked-in file, named when --check fails")
    ap.add_argument("--optional-element", action="append", default=[], metavar="NAME",
                    help="an element this build may lack (see above)")
    args = ap.parse_args()
    missing = []

    registry_dir = tempfile.mkdtemp(prefix="gen-element-reference-")
    try:
        setup_environment(args.plugin_dir, registry_dir)
        try:
            import gi
            gi.require_version("Gst", "1.0")
            from gi.repository import GObject, Gst
        except (ImportError, ValueError) as e:
            print("gen-element-reference: PyGObject with GStreamer is needed "
                  "(Debian: python3-gi gir1.2-gstreamer-1.0): %s" % e)
            # 77: meson's "skipped" when run as the check
            return 77 if args.check else 1
        Gst.init(None)
        text = Reference(Gst, GObject, args.source_dir).document(args.plugin)
        missing = [n for n in args.optional_element if Gst.ElementFactory.find(n) is None]
    finally:
        shutil.rmtree(registry_dir, ignore_errors=True)

    with open(args.output, "w", encoding="utf-8") as f:
        f.write(text)

    if args.check:
        try:
            with open(args.check, encoding="utf-8") as f:
                current = f.read()
        except FileNotFoundError:
            current = ""
        for name in missing:
            print("%s is not in this build: its part of %s is not checked" % (name, args.check))
            current = without_element(current, name)
        if current != text:
            sys.stdout.writelines(difflib.unified_diff(
                current.splitlines(True), text.splitlines(True),
                fromfile=args.check + " (checked in)",
                tofile=args.output + " (from the registered elements)"))
            print("\n%s is out of date with the registered elements. Update it with:\n"
                  "    %s\nand commit the result." % (args.check, args.update_command))
            return 1
        print("%s is up to date with the registered elements" % args.check)
    return 0


if __name__ == "__main__":
    sys.exit(main())
