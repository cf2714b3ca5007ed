# Vector index tests (src/index/).  AKIDB_TEST_QUICK=1 shrinks the data sets.
if(TARGET akidb_index)
  akidb_test(test_index SOURCES test_index.c LIBS akidb_index TIMEOUT 300)
endif()
# The index kind table and the contract of every member (src/index/kinds.c).
if(TARGET akidb_index)
  akidb_test(test_index_kinds SOURCES test_index_kinds.c LIBS akidb_index)
endif()
# int8 scalar quantisation of the HNSW index (src/index/sq8*.c): kernels on
# every path the CPU has, the bounds rule, recall with rescoring against the
# float index, save/load, concurrent training.
if(TARGET akidb_index)
  akidb_test(test_sq8 SOURCES test_sq8.c LIBS akidb_index TIMEOUT 300)
endif()
