# Store fuzz targets: WAL segment scan + replay into a store, and the filter
# parser/matcher.  Seeds in fuzz/corpus/fuzz_wal and fuzz/corpus/fuzz_filter.
if(TARGET akidb_store)
  akidb_fuzz(fuzz_wal SOURCES fuzz_wal.c LIBS akidb_store)
  akidb_fuzz(fuzz_filter SOURCES fuzz_filter.c LIBS akidb_store)
endif()
