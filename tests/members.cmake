# members.cmake - the cluster's membership and fanned-out search
# (src/cluster/members.c, fanout.c).
#
#   test_members  membership in a JetStream key-value bucket on nats-server
#                 processes on loopback: join, list, applied numbers, leave,
#                 a killed node dropping out after its ttl, config mismatch,
#                 bad options, no server, a killed bucket leader among three
#                 clustered servers (about 25 s); skips (77) without
#                 nats-server
#   test_fanout   the search request/reply JSON, the merge of top-k lists,
#                 and the parallel POSTs against libmicrohttpd servers on
#                 loopback (good, 500, 404, silent, closed port)
if(TARGET akidb_cluster)
  akidb_test(test_members SOURCES test_members.c LIBS akidb_cluster TIMEOUT 180)
  set_tests_properties(test_members PROPERTIES SKIP_RETURN_CODE 77)
  if(TARGET akidb_store)
    pkg_check_modules(MHD_FO REQUIRED IMPORTED_TARGET libmicrohttpd)
    akidb_test(test_fanout SOURCES test_fanout.c
               LIBS akidb_cluster akidb_store PkgConfig::MHD_FO PkgConfig::JANSSON TIMEOUT 120)
  endif()
endif()
