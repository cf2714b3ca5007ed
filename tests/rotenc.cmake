# rotenc.cmake - the rotary post-norm encoders: GTE v1.5 / mGTE (model_type
# "new") and NomicBERT (tests/test_rotenc.c, tests/ref/make_rotenc.py).
#
#   test_rotenc              config fields and refusals, tensor names, the
#                            forward's threads and positions, reduced
#                            precision, out of memory; needs no Python
#   rotenc_ref_models_gen    fixture: tests/ref/make_rotenc.py makes
#                            <build>/ref_rotenc (needs python3-torch)
#   test_rotenc_ref          the float64 PyTorch references through
#                            test_families' families_ref checker, every
#                            kernel path
akidb_test(test_rotenc SOURCES test_rotenc.c LIBS akidb_model
           ARGS config tensors forward reduced out_of_memory TIMEOUT 300)

add_test(NAME rotenc_ref_models_gen
         COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/ref/make_rotenc.py
                 --out ${CMAKE_BINARY_DIR}/ref_rotenc
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(rotenc_ref_models_gen PROPERTIES
  FIXTURES_SETUP rotenc_ref_models TIMEOUT 600)

add_test(NAME test_rotenc_ref COMMAND test_families families_ref
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(test_rotenc_ref PROPERTIES
  FIXTURES_REQUIRED rotenc_ref_models TIMEOUT 600
  ENVIRONMENT "AKIDB_SRC=${CMAKE_SOURCE_DIR};AKIDB_BUILD=${CMAKE_BINARY_DIR};AKIDB_FAMILY_MODELS=${CMAKE_BINARY_DIR}/ref_rotenc")
