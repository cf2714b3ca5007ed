# modernbert.cmake - the ModernBERT family (tests/test_modernbert.c,
# tests/ref/make_modernbert.py).
#
#   test_modernbert             config fields and refusals, tensor names,
#                               threads, the sliding window, reduced
#                               precision, out of memory; needs no Python
#   modernbert_ref_models_gen   fixture: tests/ref/make_modernbert.py makes
#                               <build>/ref_modernbert (needs python3-torch)
#   test_modernbert_ref         the float64 PyTorch references through
#                               test_families' families_ref checker, every
#                               kernel path
akidb_test(test_modernbert SOURCES test_modernbert.c LIBS akidb_model
           ARGS config tensors forward reduced out_of_memory TIMEOUT 300)

add_test(NAME modernbert_ref_models_gen
         COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/ref/make_modernbert.py
                 --out ${CMAKE_BINARY_DIR}/ref_modernbert
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(modernbert_ref_models_gen PROPERTIES
  FIXTURES_SETUP modernbert_ref_models TIMEOUT 600)

add_test(NAME test_modernbert_ref COMMAND test_families families_ref
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(test_modernbert_ref PROPERTIES
  FIXTURES_REQUIRED modernbert_ref_models TIMEOUT 600
  ENVIRONMENT "AKIDB_SRC=${CMAKE_SOURCE_DIR};AKIDB_BUILD=${CMAKE_BINARY_DIR};AKIDB_FAMILY_MODELS=${CMAKE_BINARY_DIR}/ref_modernbert")
