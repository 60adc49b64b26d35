# Black-box API tests (tests/api, pytest): they start the real
# build/allsourced on free loopback ports with temporary data directories.
# Debian's python3-pytest/python3-requests are used, hence /usr/bin/python3.
# Knobs: ALLSOURCE_API_LOAD (scale of the load tests), ALLSOURCE_API_CRASH_ROUNDS.
add_test(NAME api/pytest
         COMMAND /usr/bin/python3 -m pytest -q -p no:cacheprovider
                 ${CMAKE_SOURCE_DIR}/tests/api
         WORKING_DIRECTORY ${CMAKE_BINARY_DIR})
set_tests_properties(api/pytest PROPERTIES
                     ENVIRONMENT "ALLSOURCE_BIN=$<TARGET_FILE:allsourced>"
                     TIMEOUT 900
                     LABELS api)
