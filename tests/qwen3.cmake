# qwen3.cmake - the Qwen3 family, the first decoder-style one
# (tests/test_qwen3.c, tests/ref/make_qwen3.py).
#
#   test_qwen3              config fields, tensor names, the forward's
#                           threads and causality, reduced precision, out of
#                           memory, last-token pooling, prompts; needs no
#                           Python
#   qwen3_ref_models_gen    fixture: tests/ref/make_qwen3.py makes
#                           <build>/ref_qwen3 (needs python3-torch, and the
#                           Qwen3 tokenizer.json of scripts/tokref.sh unless
#                           AKIDB_TOKREF_DIR is set empty)
#   test_qwen3_ref          the id-level references through test_families'
#                           families_ref checker, every kernel path
#   test_qwen3_text_ref     the real tokenizer: texts through akidb_embed
akidb_test(test_qwen3 SOURCES test_qwen3.c LIBS akidb_model PkgConfig::JANSSON
           ARGS config tensors forward reduced out_of_memory pooling prompts TIMEOUT 300)

add_test(NAME qwen3_ref_models_gen
         COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/ref/make_qwen3.py
                 --out ${CMAKE_BINARY_DIR}/ref_qwen3
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(qwen3_ref_models_gen PROPERTIES
  FIXTURES_SETUP qwen3_ref_models TIMEOUT 600)

add_test(NAME test_qwen3_ref COMMAND test_families families_ref
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(test_qwen3_ref PROPERTIES
  FIXTURES_REQUIRED qwen3_ref_models TIMEOUT 600
  ENVIRONMENT "AKIDB_SRC=${CMAKE_SOURCE_DIR};AKIDB_BUILD=${CMAKE_BINARY_DIR};AKIDB_FAMILY_MODELS=${CMAKE_BINARY_DIR}/ref_qwen3")

add_test(NAME test_qwen3_text_ref COMMAND test_qwen3 text_ref
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(test_qwen3_text_ref PROPERTIES
  FIXTURES_REQUIRED qwen3_ref_models TIMEOUT 600
  ENVIRONMENT "AKIDB_SRC=${CMAKE_SOURCE_DIR};AKIDB_BUILD=${CMAKE_BINARY_DIR}")
