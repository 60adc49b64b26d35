# Benchmarks: build/allsource-bench (a program, never a timed test).
add_executable(allsource-bench ${CMAKE_SOURCE_DIR}/bench/bench_main.c)
target_link_libraries(allsource-bench PRIVATE allsource)
# A smoke run keeps the benchmark from rotting (it asserts nothing about speed).
add_test(NAME bench/smoke COMMAND allsource-bench --quick --only query_performance)
set_tests_properties(bench/smoke PROPERTIES TIMEOUT 120 LABELS bench)
