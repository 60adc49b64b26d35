# Schema registry: black-box API tests (tests/schema_api, pytest) of the
# schema routes, compatibility verdicts, enforcement at ingest and durability
# across kill -9.  They start the real build/allsourced on free loopback
# ports with temporary data directories (fixtures shared with tests/api).
# The registry's unit test (tests/unit/test_registry.c) is picked up by the
# unit-test glob; its ingest benchmark is `allsource-js-bench <s> ingest`.
add_test(NAME schema/pytest
         COMMAND /usr/bin/python3 -m pytest -q -p no:cacheprovider
                 ${CMAKE_SOURCE_DIR}/tests/schema_api
         WORKING_DIRECTORY ${CMAKE_BINARY_DIR})
set_tests_properties(schema/pytest PROPERTIES
                     ENVIRONMENT "ALLSOURCE_BIN=$<TARGET_FILE:allsourced>"
                     TIMEOUT 600
                     LABELS api)
