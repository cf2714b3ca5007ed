# File-I/O layer (src/common/fileio.c): short writes, failure messages,
# atomic replace under injected failures, the store and the API key
# registry on a full disk.
if(TARGET akidb_store AND TARGET akidb_server)
  akidb_test(test_fileio SOURCES test_fileio.c LIBS akidb_server akidb_store TIMEOUT 300)
endif()
