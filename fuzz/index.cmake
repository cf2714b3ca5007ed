# Fuzz target of the vector index: the HNSW image loader.
if(TARGET akidb_index)
  akidb_fuzz(fuzz_hnsw_load SOURCES fuzz_hnsw_load.c LIBS akidb_index)
endif()
