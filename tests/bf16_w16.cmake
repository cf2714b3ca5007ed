# bf16_w16.cmake - BF16 weights kept bf16 in memory and computed in fp32
# (tests/test_bf16_w16.c): the widening GEMMs of every kernel path against
# the fp32 GEMM and a double loop, a BF16 folder's default load against its
# F32 twin, and (in a process of its own, so that no earlier test's freed
# heap hides the load's memory) that load's peak and resident memory.  No
# Python.
akidb_test(test_bf16_w16 SOURCES test_bf16_w16.c LIBS akidb_model akidb_kernels akidb_common m
           ARGS w16_gemm w16r_gemm bf16_default TIMEOUT 300)
add_test(NAME test_bf16_w16_memory COMMAND test_bf16_w16 load_memory
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(test_bf16_w16_memory PROPERTIES TIMEOUT 120
  ENVIRONMENT "AKIDB_SRC=${CMAKE_SOURCE_DIR};AKIDB_BUILD=${CMAKE_BINARY_DIR}")
