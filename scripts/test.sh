#!/usr/bin/env bash
# scripts/test.sh — builds AllSource and runs every test (unit, crash, fuzz
# corpus replay, API, Parquet cross-checks).  Installs what is missing.
#
#   scripts/test.sh                 RelWithDebInfo build in build/
#   scripts/test.sh --sanitize      ASan + UBSan build in build-asan/
#   scripts/test.sh --tsan          TSan build in build-tsan/, threaded tests
#   scripts/test.sh -- <ctest args> extra arguments for ctest (e.g. -R json)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
mode=plain
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --sanitize) mode=asan ;;
    --tsan) mode=tsan ;;
    --) shift; extra=("$@"); break ;;
    *) echo "usage: $0 [--sanitize|--tsan] [-- ctest-args]" >&2; exit 2 ;;
  esac
  shift
done

"$here/scripts/deps.sh" build test

jobs=$(nproc 2>/dev/null || echo 2)
case "$mode" in
  plain) bdir="$here/build"; flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo) ;;
  asan) bdir="$here/build-asan"; flags=(-DCMAKE_BUILD_TYPE=Debug -DAS_SANITIZE=ON) ;;
  tsan) bdir="$here/build-tsan"; flags=(-DCMAKE_BUILD_TYPE=Debug -DAS_TSAN=ON)
        extra=(-L threads "${extra[@]}") ;;
esac
[ -n "${AS_WERROR:-}" ] && flags+=(-DAS_WERROR=ON)

cmake -S "$here" -B "$bdir" "${flags[@]}" >/dev/null
cmake --build "$bdir" -j"$jobs"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}
ctest --test-dir "$bdir" --output-on-failure -j"$jobs" "${extra[@]}"
