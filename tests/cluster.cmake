# cluster.cmake - the cluster's parts (src/cluster) against real servers.
#
#   test_jlog          the shards' write log on a nats-server -js process on
#                      loopback: sequence numbers, reads, duplicates, a
#                      restart, bad shapes
#   test_jlog_cluster  the same log on three clustered servers, a shard of
#                      three replicas whose stream leader is killed (SIGKILL)
#                      under a writer, restarted, caught up; no quorum
#                      (about 20 s: a stream leader's election takes 4..9 s)
# Both skip (77) without nats-server.  `test_jlog bench` is
# bench/cluster/run.sh's measurement, not a test.
if(TARGET akidb_cluster)
  akidb_test(test_jlog SOURCES test_jlog.c LIBS akidb_cluster TIMEOUT 300
             ARGS single restart shape)
  add_test(NAME test_jlog_cluster COMMAND test_jlog cluster
           WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(test_jlog test_jlog_cluster PROPERTIES SKIP_RETURN_CODE 77)
  set_tests_properties(test_jlog_cluster PROPERTIES TIMEOUT 180)
endif()
