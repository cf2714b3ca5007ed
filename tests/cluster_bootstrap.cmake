# cluster_bootstrap.cmake - a cluster node rebuilt from another node's copy
# in the bucket (tests/test_cluster_bootstrap.c, src/server/dp_cluster_bk.c):
# akidb servers in-process on a nats-server -js process and s3rver:
#
#   bootstrap  node A's copy and applied numbers in the bucket; the streams
#              purged; node B with --bootstrap-from A ends with every point
#              and backs up under its own prefix; node C without it answers
#              /ready 503 trimmed
#
# Skips (77) without nats-server, node or s3rver (tests/ref/node_modules or
# $AKIDB_TOKREF_DIR); built where the server has its cluster mode.
if(AKIDB_SERVER_CLUSTER)
  pkg_check_modules(CURL_TB REQUIRED IMPORTED_TARGET libcurl)
  akidb_test(test_cluster_bootstrap SOURCES test_cluster_bootstrap.c
    LIBS akidb_server akidb_store akidb_cluster akidb_objstore PkgConfig::CURL_TB
    PkgConfig::JANSSON m
    TIMEOUT 180)
  set_tests_properties(test_cluster_bootstrap PROPERTIES SKIP_RETURN_CODE 77
    ENVIRONMENT "AKIDB_SRC=${CMAKE_SOURCE_DIR}")
endif()
