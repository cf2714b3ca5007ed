# console.cmake - the web console (src/server/routes_console.c,
# src/server/console/): its routes over real HTTP (tests/test_console.c),
# then the page itself in headless Chromium driven by puppeteer-core
# (tests/ref/console_ui.mjs) against `akidb serve`: a search typed into the
# console must show the hits the API answers.  console_ui skips (exit 77,
# a "SKIP:" line saying why) when node, chromium or puppeteer-core in
# tests/ref/node_modules is missing.
if(TARGET akidb_server AND TARGET akidb_store)
  pkg_check_modules(CURL_T REQUIRED IMPORTED_TARGET libcurl)
  akidb_test(test_console SOURCES test_console.c
    LIBS akidb_server akidb_store akidb_common PkgConfig::CURL_T PkgConfig::JANSSON m TIMEOUT 60)

  find_program(AKIDB_NODE node)
  if(AKIDB_NODE)
    add_test(NAME console_ui
      COMMAND ${AKIDB_NODE} ${CMAKE_SOURCE_DIR}/tests/ref/console_ui.mjs
      WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  else()
    add_test(NAME console_ui
      COMMAND sh -c "echo 'SKIP: console_ui needs node (scripts/deps.sh --test)'; exit 77")
  endif()
  set_tests_properties(console_ui PROPERTIES TIMEOUT 120 SKIP_RETURN_CODE 77
    ENVIRONMENT "AKIDB_SRC=${CMAKE_SOURCE_DIR};AKIDB_BUILD=${CMAKE_BINARY_DIR};AKIDB_BIN=${AKIDB_TEST_BIN}")
endif()
