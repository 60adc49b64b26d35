# Black-box tests of the streaming features (tests/stream, pytest): WebSocket
# /api/v1/events/stream, NDJSON /api/v1/events/subscribe, snapshots and
# analytics, against the real build/allsourced.  Debian's python3-pytest,
# python3-requests and python3-websocket, hence /usr/bin/python3.
# Knob: ALLSOURCE_STREAM_LOAD (scale of the load tests; ~0.3 for ASan builds).
add_test(NAME stream/pytest
         COMMAND /usr/bin/python3 -m pytest -q -p no:cacheprovider
                 ${CMAKE_SOURCE_DIR}/tests/stream
         WORKING_DIRECTORY ${CMAKE_BINARY_DIR})
set_tests_properties(stream/pytest PROPERTIES
                     ENVIRONMENT "ALLSOURCE_BIN=$<TARGET_FILE:allsourced>"
                     TIMEOUT 900
                     LABELS api)

# The streaming benchmark (a program, never a timed test): build/allsource-ws-bench
# connects to a running allsourced (--url HOST:PORT); see docs/benchmarks-stream.md.
add_executable(allsource-ws-bench ${CMAKE_SOURCE_DIR}/bench/ws_bench.c)
target_link_libraries(allsource-ws-bench PRIVATE Threads::Threads)
