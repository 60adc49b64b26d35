# Replays and /metrics: black-box API tests (tests/replay_api, pytest) of the
# replay routes (shapes, errors, limits, flags, results against the query
# API, cancel on a big store, concurrent appends, restart) and of GET
# /metrics (strict exposition-format parser, promtool, counters after known
# traffic).  They start the real build/allsourced on free loopback ports
# with temporary data directories (fixtures shared with tests/api).  The
# replay manager's unit test (tests/unit/test_replay.c) is picked up by the
# unit-test glob (label threads: it also runs under TSan).
# Knob: ALLSOURCE_REPLAY_LOAD (scale of the big-store test, default 1).
add_test(NAME replay/pytest
         COMMAND /usr/bin/python3 -m pytest -q -p no:cacheprovider
                 ${CMAKE_SOURCE_DIR}/tests/replay_api
         WORKING_DIRECTORY ${CMAKE_BINARY_DIR})
set_tests_properties(replay/pytest PROPERTIES
                     ENVIRONMENT "ALLSOURCE_BIN=$<TARGET_FILE:allsourced>"
                     TIMEOUT 600
                     LABELS api)
