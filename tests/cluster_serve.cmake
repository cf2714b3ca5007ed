# cluster_serve.cmake - `akidb serve --cluster` end to end
# (tests/test_cluster_serve.c): akidb servers started in-process on
# nats-server -js processes, over real HTTP with the vector routes:
#
#   two_full       two nodes holding every shard read each other's writes;
#                  bad input is a 400 and appends nothing; applied numbers
#                  travel with the heartbeats
#   wrong_settings a node with other shard / replica counts is refused
#                  before any stream is made
#   trimmed        --log-max-age streams: a node on an empty folder answers
#                  /ready 503 trimmed
#   three_partial  one shard per node: searches equal one store's exact
#                  search, get / scroll / count answer 409, a stopped
#                  node's shard is searched on another holder, else a 503
#                  naming it
#   auth_fanout    with API keys: searches sent on carry the caller's key
#   trio_kill      three clustered nats-servers, one SIGKILLed during
#                  ingest: every acknowledged point is on every node; the
#                  write latency afterwards (p50, p99, max printed); a node
#                  restarted after another server's restart is ready soon
#                  (about 20 s: the stream leaders' elections)
#
# Skips (77) without nats-server; built where the server has its cluster
# mode (AKIDB_SERVER_CLUSTER, src/server/CMakeLists.txt).
if(AKIDB_SERVER_CLUSTER)
  pkg_check_modules(CURL_T REQUIRED IMPORTED_TARGET libcurl)
  akidb_test(test_cluster_serve SOURCES test_cluster_serve.c
    LIBS akidb_server akidb_store akidb_cluster PkgConfig::CURL_T PkgConfig::JANSSON m
    TIMEOUT 180)
  set_tests_properties(test_cluster_serve PROPERTIES SKIP_RETURN_CODE 77)
endif()
