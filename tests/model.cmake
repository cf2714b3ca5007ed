# Model tests: safetensors reader, configuration, forward pass, public API.
akidb_test(test_safetensors SOURCES test_safetensors.c LIBS akidb_model akidb_common m)
if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/test_model.c)
  akidb_test(test_model SOURCES test_model.c LIBS akidb_model akidb_text akidb_kernels akidb_common m)
endif()
