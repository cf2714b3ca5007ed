# store_segments.cmake - sealed segments of a collection (src/store/segment.c):
# answers identical to a store that never seals, HNSW recall over several
# segments, compaction, damaged segment files, kills while sealing, and
# writes that do not wait for a sealing.
if(TARGET akidb_store)
  akidb_test(test_store_segments SOURCES test_store_segments.c LIBS akidb_store TIMEOUT 300)
endif()
