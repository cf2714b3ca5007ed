# ref.cmake - exactness of AkiDB's embeddings against an independent PyTorch
# reference (tests/test_embed_ref.c, tests/ref/make_models.py).
#
#   test_embed_ref         the committed tiny golden + tokenizer vs golden ids;
#                          needs no Python
#   embed_ref_models_gen   fixture: tests/ref/gen_models.sh makes
#                          <build>/ref_models once (needs python3-torch; fails
#                          without it)
#   test_embed_ref_models  every generated model, each kernel path
# AKIDB_REF_QUICK=1 in the environment (sanitizer runs) limits the generated
# part to the small models and MiniLM on a few texts.
akidb_test(test_embed_ref SOURCES test_embed_ref.c LIBS akidb_model
           ARGS tokens_golden tiny_golden TIMEOUT 300)

add_test(NAME embed_ref_models_gen
         COMMAND sh ${CMAKE_SOURCE_DIR}/tests/ref/gen_models.sh ${CMAKE_BINARY_DIR}/ref_models
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(embed_ref_models_gen PROPERTIES
  FIXTURES_SETUP embed_ref_models TIMEOUT 1500)

add_test(NAME test_embed_ref_models COMMAND test_embed_ref ref_models ref_kernels
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(test_embed_ref_models PROPERTIES
  FIXTURES_REQUIRED embed_ref_models TIMEOUT 900
  ENVIRONMENT "AKIDB_SRC=${CMAKE_SOURCE_DIR};AKIDB_BUILD=${CMAKE_BINARY_DIR}")
