#!/usr/bin/env bash
# Runs deploy/argocd/trailpolicy-health.lua on TrailPolicy objects the way Argo CD does
# (the script sees the object as the global `obj` and returns {status, message}), under
# Lua 5.1 as Argo CD's gopher-lua implements it: lupa from PyPI, in a venv cached under
# ~/.cache/trailwarden/venv/lupa-<version>. Prints one JSON line per object.
# Usage: hack/argocd-health.sh OBJECTS.json   (a JSON list of objects)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
LUPA_VERSION=2.8
venv=$("$root/hack/pyvenv.sh" "lupa==$LUPA_VERSION")
exec "$venv/bin/python" - "$root/deploy/argocd/trailpolicy-health.lua" "$1" <<'PY'
import json, sys
from lupa import lua51

script = open(sys.argv[1]).read()
objects = json.load(open(sys.argv[2]))
for obj in objects:
    lua = lua51.LuaRuntime()
    def to_lua(value):
        if isinstance(value, dict):
            return lua.table_from({k: to_lua(v) for k, v in value.items()})
        if isinstance(value, list):
            return lua.table_from([to_lua(v) for v in value])
        return value
    lua.globals().obj = to_lua(obj)
    result = lua.execute(script)
    print(json.dumps({"name": obj["metadata"]["name"], "status": result["status"], "message": result["message"]}))
PY
