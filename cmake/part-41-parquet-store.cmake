# Files sealed by the store itself, read back by DuckDB and hyparquet.
add_executable(store_gen ${CMAKE_SOURCE_DIR}/tests/parquet/store_gen.c)
set_target_properties(store_gen PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
target_link_libraries(store_gen PRIVATE allsource)
add_test(NAME parquet/store-files-independent-readers
         COMMAND /bin/sh ${CMAKE_SOURCE_DIR}/tests/parquet/run_store_checkers.sh
                 $<TARGET_FILE:store_gen> ${CMAKE_SOURCE_DIR}/tools/pq-check
                 ${CMAKE_BINARY_DIR}/pq-store-out)
set_tests_properties(parquet/store-files-independent-readers PROPERTIES
                     TIMEOUT 300 LABELS parquet SKIP_RETURN_CODE 77)
