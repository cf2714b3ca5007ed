# cluster.cmake - the cluster's parts (src/cluster) against real servers.
#
#   test_jlog   the shards' write log on nats-server -js processes on
#               loopback: sequence numbers, reads, duplicates, a restart,
#               bad shapes; skipped (77) without nats-server
if(TARGET akidb_cluster)
  akidb_test(test_jlog SOURCES test_jlog.c LIBS akidb_cluster TIMEOUT 300)
  set_tests_properties(test_jlog PROPERTIES SKIP_RETURN_CODE 77)
endif()
