# The HTTP layer (src/http, not part of the embeddable engine) and the
# server binary build/allsourced.
if(NOT MHD_FOUND)
  message(FATAL_ERROR "libmicrohttpd not found: run scripts/deps.sh")
endif()
file(GLOB AS_HTTP_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/http/*.c)
add_library(as_http STATIC ${AS_HTTP_SOURCES})
if(NOT WSLAY_LIB OR NOT WSLAY_INCLUDE)
  message(FATAL_ERROR "wslay not found (libwslay-dev): run scripts/deps.sh")
endif()
target_include_directories(as_http PUBLIC ${WSLAY_INCLUDE})
target_link_libraries(as_http PUBLIC allsource PkgConfig::MHD ${WSLAY_LIB})

add_executable(allsourced ${CMAKE_SOURCE_DIR}/src/server/allsourced.c)
target_link_libraries(allsourced PRIVATE as_http)
