#!/usr/bin/env python3
# gst-sharedmatrix: the shared library exports its public API and nothing
# else. Compares `nm -D --defined-only` of the library with the functions
# its public headers declare with GST_SHARED_MATRIX_API (and the type
# function G_DECLARE_FINAL_TYPE declares after it); fails, naming each
# symbol, when the library exports anything more (a private symbol leaked)
# or less (an API function lost its export).
#
#   check-exports.py LIBRARY HEADER...
import re
import subprocess
import sys

DECL = re.compile(
    r"GST_SHARED_MATRIX_API\s+"
    r"(?:G_DECLARE_\w+\s*\(\s*\w+\s*,\s*(?P<type_prefix>\w+)"
    r"|[^;(]*?\b(?P<function>\w+)\s*\()")


def declared(headers):
    names = set()
    for path in headers:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for m in DECL.finditer(text):
            if m.group("type_prefix"):
                names.add(m.group("type_prefix") + "_get_type")
            else:
                names.add(m.group("function"))
    return names


def exported(library):
    out = subprocess.run(["nm", "-D", "--defined-only", "--format=posix", library],
                         check=True, capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def main():
    library, headers = sys.argv[1], sys.argv[2:]
    want, got = declared(headers), exported(library)
    if not want:
        print(f"no GST_SHARED_MATRIX_API declarations found in {headers}")
        return 1
    leaked, missing = sorted(got - want), sorted(want - got)
    for name in leaked:
        print(f"LEAKED: {name} is exported but not declared with "
              "GST_SHARED_MATRIX_API in a public header")
    for name in missing:
        print(f"MISSING: {name} is declared with GST_SHARED_MATRIX_API but "
              "not exported")
    print(f"{library}: {len(got)} exported symbols, {len(want)} declared, "
          f"{len(leaked)} leaked, {len(missing)} missing")
    return 1 if leaked or missing else 0


if __name__ == "__main__":
    sys.exit(main())
