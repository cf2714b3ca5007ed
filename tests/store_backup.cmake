# store_backup.cmake - the store's object-storage tier (src/store/backup.c)
# against s3rver on loopback (tests/ref/s3rver_run.mjs): snapshots, WAL tails
# and the manifest in the bucket, restores of an empty folder compared point
# by point and search by search, damaged objects, a bucket that is down and
# comes back, restores under injected allocation and disk failures.
# Skipped (77) without node or s3rver in tests/ref.
if(TARGET akidb_store AND TARGET akidb_objstore)
  akidb_test(test_store_backup SOURCES test_store_backup.c LIBS akidb_store akidb_objstore
             Threads::Threads TIMEOUT 300)
  set_tests_properties(test_store_backup PROPERTIES SKIP_RETURN_CODE 77
    ENVIRONMENT "AKIDB_SRC=${CMAKE_SOURCE_DIR}")
endif()
