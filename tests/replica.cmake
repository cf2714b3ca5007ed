# replica.cmake - the cluster log's records and the replicas that apply a
# shard's stream to the local store (src/cluster/crec.c, replica.c).
#
#   test_crec     the record codec (round trips, exact bytes, every
#                 truncation, versions, the id hash's fixed values) and
#                 idempotent application on a real store
#   test_replica  replicas on nats-server -js processes on loopback: two
#                 shards applied, read-your-writes waits, stop and resume
#                 from the saved numbers, a second replica catching up, the
#                 latency of append -> applied, a trimmed stream, the server
#                 going away and back, a three-server cluster whose stream
#                 leader is killed under the writer
# test_replica skips (77) without nats-server.
if(TARGET akidb_cluster)
  akidb_test(test_crec SOURCES test_crec.c LIBS akidb_cluster TIMEOUT 120)
  akidb_test(test_replica SOURCES test_replica.c LIBS akidb_cluster TIMEOUT 300)
  set_tests_properties(test_replica PROPERTIES SKIP_RETURN_CODE 77)
endif()
