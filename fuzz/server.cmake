# REST server request handling without sockets (see fuzz_http_dispatch.c).
if(TARGET akidb_server)
  akidb_fuzz(fuzz_http_dispatch SOURCES fuzz_http_dispatch.c LIBS akidb_server PkgConfig::JANSSON)
endif()
