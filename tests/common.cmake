akidb_test(test_common SOURCES test_common.c LIBS akidb_common)
