# Parquet: the test-file generator + independent checkers (DuckDB, hyparquet)
# and the benchmark.
#
#  - build/tests/pq_gen OUTDIR writes files with our writer for every codec
#    plus expected.ndjson and manifest.json.
#  - CTest "parquet/independent-readers" runs pq_gen, then
#    tools/pq-check/check_duckdb.mjs and check_hyparquet.mjs with
#    /usr/bin/node.  It is skipped (exit 77) only when
#    tools/pq-check/node_modules is missing (scripts/deps.sh test installs it).
#  - build/allsource-pq-bench: bench/pq_bench.c.
add_executable(pq_gen ${CMAKE_SOURCE_DIR}/tests/parquet/pq_gen.c)
set_target_properties(pq_gen PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
target_link_libraries(pq_gen PRIVATE allsource)

add_test(NAME parquet/independent-readers
         COMMAND /bin/sh ${CMAKE_SOURCE_DIR}/tests/parquet/run_checkers.sh
                 $<TARGET_FILE:pq_gen> ${CMAKE_SOURCE_DIR}/tools/pq-check
                 ${CMAKE_BINARY_DIR}/pq-check-out)
set_tests_properties(parquet/independent-readers PROPERTIES
                     TIMEOUT 300 LABELS parquet SKIP_RETURN_CODE 77)

if(EXISTS ${CMAKE_SOURCE_DIR}/bench/pq_bench.c)
  add_executable(allsource-pq-bench ${CMAKE_SOURCE_DIR}/bench/pq_bench.c)
  target_link_libraries(allsource-pq-bench PRIVATE allsource)
endif()

