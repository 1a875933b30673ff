#!/usr/bin/env bash
# Copies the one source of truth, schemas/trajectory-v1.json, into the Python package
# (python/eostrace/schemas/), which ships it inside the wheel. Re-run after every schema change;
# Tests/python/test_python_package.py fails while the two differ.
#   scripts/sync-python-schema.sh          copy
#   scripts/sync-python-schema.sh --check  exit 1 when the copy is stale
set -euo pipefail
cd "$(dirname "$0")/.."
src=schemas/trajectory-v1.json
dst=python/eostrace/schemas/trajectory-v1.json
if [ "${1:-}" = "--check" ]; then
    cmp -s "$src" "$dst" || { echo "sync-python-schema: $dst differs from $src: run scripts/sync-python-schema.sh"; exit 1; }
    echo "sync-python-schema: $dst is up to date"; exit 0
fi
mkdir -p "$(dirname "$dst")"
cp "$src" "$dst"
echo "sync-python-schema: copied $src -> $dst"
