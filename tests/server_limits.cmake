# The server's search limits (top_k, ef, the search budget) on every search
# route, and /ready while the store's background snapshot fails.
if(TARGET akidb_server AND TARGET akidb_store)
  pkg_check_modules(CURL_T REQUIRED IMPORTED_TARGET libcurl)
  akidb_test(test_server_limits SOURCES test_server_limits.c
    LIBS akidb_server akidb_store PkgConfig::CURL_T PkgConfig::JANSSON m TIMEOUT 120)
endif()
