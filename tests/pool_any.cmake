# Thread pool runs with optional workers and shared work lists (ak_pool_run_any, ak_task).
akidb_test(test_pool_any SOURCES test_pool_any.c LIBS akidb_kernels akidb_common m)
