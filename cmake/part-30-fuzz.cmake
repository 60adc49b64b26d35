# Fuzz targets: every fuzz/fuzz_<name>.c defines LLVMFuzzerTestOneInput.
#  - Always: build/fuzz/replay_<name> (plain driver) and a CTest that replays
#    fuzz/corpus/<name>/ (so CI runs the corpus under the sanitizers).
#  - With -DAS_FUZZ=ON and clang: build/fuzz/fuzz_<name>, a libFuzzer binary.
#    Run: build/fuzz/fuzz_<name> fuzz/corpus/<name> -max_total_time=60
file(GLOB AS_FUZZ_TARGETS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/fuzz/fuzz_*.c)
foreach(src ${AS_FUZZ_TARGETS})
  get_filename_component(name ${src} NAME_WE)
  string(REGEX REPLACE "^fuzz_" "" short ${name})
  add_executable(replay_${short} ${src} ${CMAKE_SOURCE_DIR}/fuzz/replay_main.c)
  set_target_properties(replay_${short} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/fuzz)
  target_include_directories(replay_${short} PRIVATE ${CMAKE_SOURCE_DIR}/fuzz)
  target_link_libraries(replay_${short} PRIVATE allsource)
  add_test(NAME fuzz-replay/${short}
           COMMAND replay_${short} ${CMAKE_SOURCE_DIR}/fuzz/corpus/${short})
  set_tests_properties(fuzz-replay/${short} PROPERTIES TIMEOUT 300 LABELS fuzz)
  if(AS_FUZZ)
    add_executable(${name} ${src})
    set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/fuzz)
    target_compile_options(${name} PRIVATE -fsanitize=fuzzer)
    target_link_options(${name} PRIVATE -fsanitize=fuzzer)
    target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR}/fuzz)
    target_link_libraries(${name} PRIVATE allsource)
  endif()
endforeach()

# Instrument the engine library for coverage too in fuzz builds, so the
# fuzzers see the edges inside the parsers, not only in the target files.
if(AS_FUZZ AND CMAKE_C_COMPILER_ID MATCHES "Clang")
  target_compile_options(as_objs PRIVATE -fsanitize=fuzzer-no-link)
endif()
