# qwen3_rerank.cmake - causal-LM rerankers: Qwen3-Reranker scored by its LM
# head's "yes" / "no" logits (tests/test_qwen3_rerank.c,
# tests/ref/make_qwen3_reranker.py).
#
#   test_qwen3_rerank              which folders are causal-LM rerankers,
#                                  the score against the forward, the
#                                  instruction, `akidb rerank`, bad input;
#                                  needs no Python
#   qwen3_rerank_ref_models_gen    fixture: tests/ref/make_qwen3_reranker.py
#                                  makes <build>/ref_qwen3_rerank (needs
#                                  python3-torch and the Qwen3 tokenizer.json
#                                  of scripts/tokref.sh; AKIDB_TOKREF_DIR set
#                                  empty: an empty manifest, the test skips)
#   test_qwen3_rerank_ref          the PyTorch reference on every kernel
#                                  path, F32 / F16 / BF16, tied and untied
akidb_test(test_qwen3_rerank SOURCES test_qwen3_rerank.c LIBS akidb_model PkgConfig::JANSSON
           ARGS load cli bad out_of_memory TIMEOUT 300)
add_dependencies(test_qwen3_rerank akidb)   # its cli test runs the binary

add_test(NAME qwen3_rerank_ref_models_gen
         COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/ref/make_qwen3_reranker.py
                 --out ${CMAKE_BINARY_DIR}/ref_qwen3_rerank
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(qwen3_rerank_ref_models_gen PROPERTIES
  FIXTURES_SETUP qwen3_rerank_ref_models TIMEOUT 600)

add_test(NAME test_qwen3_rerank_ref COMMAND test_qwen3_rerank ref
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(test_qwen3_rerank_ref PROPERTIES
  FIXTURES_REQUIRED qwen3_rerank_ref_models TIMEOUT 600
  ENVIRONMENT "AKIDB_SRC=${CMAKE_SOURCE_DIR};AKIDB_BUILD=${CMAKE_BINARY_DIR}")
