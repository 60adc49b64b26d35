#!/bin/sh
# run_checkers.sh PQ_GEN TOOLS_DIR OUTDIR — writes files with our writer and
# validates every value with DuckDB and hyparquet (tools/pq-check).
set -eu
gen=$1 tools=$2 out=$3
if [ ! -d "$tools/node_modules/@duckdb/node-api" ] || [ ! -d "$tools/node_modules/hyparquet" ]; then
  echo "SKIP: $tools/node_modules is missing; run scripts/deps.sh test (npm ci in tools/pq-check)"
  exit 77
fi
rm -rf "$out"
mkdir -p "$out"
"$gen" "$out"
/usr/bin/node "$tools/check_duckdb.mjs" "$out"
/usr/bin/node "$tools/check_hyparquet.mjs" "$out"
