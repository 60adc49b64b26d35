#!/usr/bin/env bash
# scripts/run.sh — builds AllSource (Release) and runs the server on its
# embedded default data directory ./data.  Extra arguments go to allsourced
# (see build/allsourced --help).  Installs what is missing.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
"$here/scripts/deps.sh" build
cmake -S "$here" -B "$here/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$here/build" -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
exec "$here/build/allsourced" --data-dir ./data "$@"
