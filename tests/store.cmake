# Store tests (src/store): API/property/recall, filters vs oracle, corruption,
# OOM, and the kill -9 crash test.  AKIDB_TEST_QUICK=1 shrinks sizes.
if(TARGET akidb_store)
  akidb_test(test_store SOURCES test_store.c LIBS akidb_store)
  akidb_test(test_filter SOURCES test_filter.c LIBS akidb_store)
  akidb_test(test_store_recovery SOURCES test_store_recovery.c LIBS akidb_store)
  akidb_test(test_store_crash SOURCES test_store_crash.c LIBS akidb_store TIMEOUT 900)
endif()
# Snapshots by the store's thread: writes while one is held, kill -9 during
# one, a failed one reported, and a snapshot from before index kinds.
if(TARGET akidb_store)
  akidb_test(test_store_snapshot SOURCES test_store_snapshot.c LIBS akidb_store TIMEOUT 300)
endif()
# int8 quantisation of a collection (SQ8): the setting through the WAL and
# snapshots, every index quantised (tail, sealed and merged segments), exact
# rescored scores.
if(TARGET akidb_store)
  akidb_test(test_store_sq8 SOURCES test_store_sq8.c LIBS akidb_store TIMEOUT 300)
endif()
