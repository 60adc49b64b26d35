# JSON Schema validator extras.
#  - build/allsource-js-bench: validations per second and compile time for a
#    typical event schema (bench/js_bench.c).
#  - With AS_FUZZ (clang): instrument the engine library for coverage, so
#    libFuzzer targets (fuzz/fuzz_jsonschema.c among them) see inside it.
add_executable(allsource-js-bench ${CMAKE_SOURCE_DIR}/bench/js_bench.c)
target_link_libraries(allsource-js-bench PRIVATE allsource)

if(AS_FUZZ)
  target_compile_options(as_objs PRIVATE -fsanitize=fuzzer-no-link)
endif()
