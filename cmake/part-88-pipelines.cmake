# Stream-processing pipelines (src/services/as_pipeline*.c, routes in
# src/http/as_route_pipelines.c, docs/pipelines.md).
#  - Black-box API tests (tests/pipeline_api, pytest): every route and error,
#    results against an independent Python model of the operators, start
#    positions, concurrent appends, kill -9 and restart.  They start the real
#    build/allsourced (fixtures shared with tests/api).
#  - The unit test (tests/unit/test_pipeline.c) and the config fuzz target
#    (fuzz/fuzz_pipeline_config.c, corpus replayed as fuzz-replay/pipeline_config)
#    are picked up by the unit-test and fuzz globs.
#  - build/allsource-pipeline-bench: events/s through pipelines, off the
#    append path and fed from a loaded store (a program, never a timed test;
#    a smoke run keeps it from rotting).
add_test(NAME pipelines/pytest
         COMMAND /usr/bin/python3 -m pytest -q -p no:cacheprovider
                 ${CMAKE_SOURCE_DIR}/tests/pipeline_api
         WORKING_DIRECTORY ${CMAKE_BINARY_DIR})
set_tests_properties(pipelines/pytest PROPERTIES
                     ENVIRONMENT "ALLSOURCE_BIN=$<TARGET_FILE:allsourced>"
                     TIMEOUT 600
                     LABELS api)

add_executable(allsource-pipeline-bench ${CMAKE_SOURCE_DIR}/bench/pipeline_bench.c)
target_link_libraries(allsource-pipeline-bench PRIVATE allsource)
add_test(NAME bench/pipeline-smoke COMMAND allsource-pipeline-bench --events 20000)
set_tests_properties(bench/pipeline-smoke PROPERTIES TIMEOUT 120 LABELS bench)
