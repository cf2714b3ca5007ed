# The HTTP layer's header and body deadlines (src/server/deadline.c):
# trickling clients cut, clients in time and slow handlers not.
if(TARGET akidb_server AND TARGET akidb_store)
  pkg_check_modules(CURL_T REQUIRED IMPORTED_TARGET libcurl)
  akidb_test(test_http_deadline SOURCES test_http_deadline.c
    LIBS akidb_server akidb_store PkgConfig::CURL_T PkgConfig::JANSSON m TIMEOUT 120)
endif()
