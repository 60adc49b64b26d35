# Unit tests: every tests/unit/test_<module>.c is its own CTest executable,
# linked against the static engine so it can reach internal (as__) functions.
file(GLOB AS_UNIT_TESTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/unit/test_*.c)
foreach(src ${AS_UNIT_TESTS})
  get_filename_component(name ${src} NAME_WE)
  add_executable(${name} ${src})
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR}/tests/unit)
  target_link_libraries(${name} PRIVATE allsource)
  add_test(NAME unit/${name} COMMAND ${name})
  # Tests that start threads also run under ThreadSanitizer (label threads).
  file(READ ${src} _body)
  string(FIND "${_body}" "pthread_create" _threaded)
  if(_threaded GREATER -1)
    set_tests_properties(unit/${name} PROPERTIES TIMEOUT 300 LABELS "unit;threads")
  else()
    set_tests_properties(unit/${name} PROPERTIES TIMEOUT 300 LABELS unit)
  endif()
endforeach()
