# REST server and `akidb pull` tests: real HTTP on 127.0.0.1 with ephemeral
# ports, libcurl clients; AKIDB_TEST_QUICK=1 shrinks the loops.
if(TARGET akidb_server AND TARGET akidb_store)
  pkg_check_modules(CURL_T REQUIRED IMPORTED_TARGET libcurl)
  akidb_test(test_server SOURCES test_server.c
    LIBS akidb_server akidb_store akidb_model PkgConfig::CURL_T PkgConfig::JANSSON m TIMEOUT 900)
  akidb_test(test_server_access SOURCES test_server_access.c
    LIBS akidb_server akidb_store akidb_model PkgConfig::CURL_T PkgConfig::JANSSON m TIMEOUT 900)
endif()
if(TARGET akidb_pull)
  pkg_check_modules(MHD_T REQUIRED IMPORTED_TARGET libmicrohttpd)
  pkg_check_modules(CURL_T REQUIRED IMPORTED_TARGET libcurl)
  if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/test_pull.c)
    akidb_test(test_pull SOURCES test_pull.c
      LIBS akidb_pull akidb_model PkgConfig::MHD_T PkgConfig::CURL_T PkgConfig::JANSSON m TIMEOUT 600)
  endif()
endif()
if(TARGET akidb_server AND TARGET akidb_store)
  akidb_test(test_http SOURCES test_http.c
    LIBS akidb_server akidb_store akidb_model PkgConfig::CURL_T PkgConfig::JANSSON m TIMEOUT 300)
endif()
