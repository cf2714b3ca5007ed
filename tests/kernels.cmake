# Kernel tests: every available path against double-precision references.
akidb_test(test_kernels SOURCES test_kernels.c LIBS akidb_kernels akidb_common m)
