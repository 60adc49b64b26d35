# JSON Schema validator extras.
#  - build/allsource-js-bench: validations per second and compile time for a
#    typical event schema (bench/js_bench.c).
add_executable(allsource-js-bench ${CMAKE_SOURCE_DIR}/bench/js_bench.c)
target_link_libraries(allsource-js-bench PRIVATE allsource)

