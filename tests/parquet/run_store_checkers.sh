#!/bin/sh
# run_store_checkers.sh STORE_GEN TOOLS_DIR OUTDIR — ingests events through
# the store, seals them into Parquet, and validates every value of every
# sealed file with DuckDB and hyparquet (tools/pq-check).
set -eu
gen=$1 tools=$2 out=$3
if [ ! -d "$tools/node_modules/@duckdb/node-api" ] || [ ! -d "$tools/node_modules/hyparquet" ]; then
  echo "SKIP: $tools/node_modules is missing; run scripts/deps.sh test (npm ci in tools/pq-check)"
  exit 77
fi
rm -rf "$out"
"$gen" "$out"
for d in "$out"/file*; do
  /usr/bin/node "$tools/check_duckdb.mjs" "$d"
  /usr/bin/node "$tools/check_hyparquet.mjs" "$d"
done
