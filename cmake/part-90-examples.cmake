# Example programs that use the engine as a library; run as tests so they
# keep working.
add_executable(custom_projection ${CMAKE_SOURCE_DIR}/examples/custom_projection.c)
set_target_properties(custom_projection PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/examples)
target_link_libraries(custom_projection PRIVATE allsource)
add_test(NAME examples/custom_projection COMMAND custom_projection)
set_tests_properties(examples/custom_projection PROPERTIES TIMEOUT 60 LABELS "unit;threads")
