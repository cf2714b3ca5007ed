# gemma3.cmake - the Gemma 3 text family, EmbeddingGemma
# (tests/test_gemma3.c, tests/ref/make_gemma3.py).
#
#   test_gemma3             config fields, tensor names, the forward's
#                           threads and attention windows, reduced precision,
#                           out of memory; needs no Python
#   gemma3_ref_models_gen   fixture: tests/ref/make_gemma3.py makes
#                           <build>/ref_gemma3 (needs python3-torch, and the
#                           Gemma 3 tokenizer.json of scripts/tokref.sh unless
#                           AKIDB_TOKREF_DIR is set empty)
#   test_gemma3_ref         the id-level references through test_families'
#                           families_ref checker, every kernel path
#   test_gemma3_text_ref    the real tokenizer: texts through akidb_embed
akidb_test(test_gemma3 SOURCES test_gemma3.c LIBS akidb_model PkgConfig::JANSSON
           ARGS config tensors forward reduced out_of_memory TIMEOUT 300)

add_test(NAME gemma3_ref_models_gen
         COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/ref/make_gemma3.py
                 --out ${CMAKE_BINARY_DIR}/ref_gemma3
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(gemma3_ref_models_gen PROPERTIES
  FIXTURES_SETUP gemma3_ref_models TIMEOUT 600)

add_test(NAME test_gemma3_ref COMMAND test_families families_ref
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(test_gemma3_ref PROPERTIES
  FIXTURES_REQUIRED gemma3_ref_models TIMEOUT 600
  ENVIRONMENT "AKIDB_SRC=${CMAKE_SOURCE_DIR};AKIDB_BUILD=${CMAKE_BINARY_DIR};AKIDB_FAMILY_MODELS=${CMAKE_BINARY_DIR}/ref_gemma3")

add_test(NAME test_gemma3_text_ref COMMAND test_gemma3 text_ref
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(test_gemma3_text_ref PROPERTIES
  FIXTURES_REQUIRED gemma3_ref_models TIMEOUT 600
  ENVIRONMENT "AKIDB_SRC=${CMAKE_SOURCE_DIR};AKIDB_BUILD=${CMAKE_BINARY_DIR}")
