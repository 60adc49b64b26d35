# The HTTP layer (src/http, not part of the embeddable engine) and the
# server binary build/allsourced.
if(NOT MHD_FOUND)
  message(FATAL_ERROR "libmicrohttpd not found: run scripts/deps.sh")
endif()
file(GLOB AS_HTTP_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/http/*.c)
add_library(as_http STATIC ${AS_HTTP_SOURCES})
target_link_libraries(as_http PUBLIC allsource PkgConfig::MHD)

add_executable(allsourced ${CMAKE_SOURCE_DIR}/src/server/allsourced.c)
target_link_libraries(allsourced PRIVATE as_http)
