# The command-line tool build/allsource (uses libcurl for export --url).
if(NOT CURL_FOUND)
  message(FATAL_ERROR "libcurl not found: run scripts/deps.sh")
endif()
add_executable(allsource-cli ${CMAKE_SOURCE_DIR}/src/cli/allsource.c)
set_target_properties(allsource-cli PROPERTIES OUTPUT_NAME allsource)
target_link_libraries(allsource-cli PRIVATE allsource PkgConfig::CURL)
