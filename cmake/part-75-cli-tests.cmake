# Black-box tests of the CLI against stores written by the real server.
add_test(NAME cli/pytest
         COMMAND /usr/bin/python3 -m pytest -q -p no:cacheprovider ${CMAKE_SOURCE_DIR}/tests/cli)
set_tests_properties(cli/pytest PROPERTIES TIMEOUT 600 LABELS api
                     ENVIRONMENT "ALLSOURCE_BUILD_DIR=${CMAKE_BINARY_DIR}")
