#!/usr/bin/env bash
# scripts/deps.sh — installs the Debian 12 packages AllSource needs, only
# those that are missing.  Usage: scripts/deps.sh [build|test|bench]...
#   build: compiler toolchain and libraries (always included)
#   test:  pytest, requests, websocket client, promtool, clang fuzz runtime,
#          and the npm Parquet readers (DuckDB, hyparquet) used by tests
#   bench: wrk and the peer servers (redis, nats, postgresql)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)

build_pkgs=(build-essential cmake pkg-config clang libclang-rt-14-dev
  libmicrohttpd-dev libwslay-dev libjansson-dev libzstd-dev
  liblz4-dev libpcre2-dev libcurl4-openssl-dev)
test_pkgs=(python3 python3-pytest python3-requests python3-websocket)
bench_pkgs=(wrk redis-server redis-tools nats-server libnats-dev postgresql
  postgresql-contrib)

want=("${build_pkgs[@]}")
npm_needed=0
for arg in "$@"; do
  case "$arg" in
    build) ;;
    test) want+=("${test_pkgs[@]}"); npm_needed=1 ;;
    bench) want+=("${bench_pkgs[@]}") ;;
    *) echo "deps.sh: unknown group '$arg'" >&2; exit 2 ;;
  esac
done

missing=()
# Node.js and npm (for the Parquet cross-checks) may come from Debian or be
# preinstalled from elsewhere; only install Debian's if there is none.
if [ $npm_needed -eq 1 ] && ! command -v npm >/dev/null; then
  want+=(nodejs npm)
fi
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# promtool comes from the prometheus package, installed without recommends.
need_promtool=0
for arg in "$@"; do [ "$arg" = test ] && ! command -v promtool >/dev/null && need_promtool=1; done

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
if [ ${#missing[@]} -gt 0 ] || [ $need_promtool -eq 1 ]; then
  echo "deps.sh: installing ${missing[*]} $( [ $need_promtool -eq 1 ] && echo prometheus)" >&2
  # Keep apt from starting services (redis, nats, postgresql, prometheus).
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
  fi
  $SUDO apt-get update -qq
  if [ ${#missing[@]} -gt 0 ]; then
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  if [ $need_promtool -eq 1 ]; then
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  fi
fi

if [ $npm_needed -eq 1 ] && [ -f "$here/tools/pq-check/package.json" ] &&
   [ ! -d "$here/tools/pq-check/node_modules/@duckdb" ]; then
  echo "deps.sh: installing npm packages in tools/pq-check" >&2
  (cd "$here/tools/pq-check" && npm ci --no-audit --no-fund --silent 2>/dev/null ||
     npm install --no-audit --no-fund --silent)
fi
exit 0
