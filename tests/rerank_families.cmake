# rerank_families.cmake - the sequence-classification heads of ModernBERT,
# MPNet, GTE ("new") and NomicBERT, and causal-LM rerankers marked by a
# CrossEncoder LogitScore module (tests/test_rerank_families.c,
# tests/ref/make_rerank_families.py).
#
#   rerank_families_ref_models_gen  fixture: tests/ref/make_rerank_families.py
#                                   makes <build>/ref_rerank_families (needs
#                                   python3-torch)
#   test_rerank_families            the heads' config fields and tensors on
#                                   those folders and edited copies, the
#                                   LogitScore marker, modules.json class
#                                   names, out of memory
#   test_rerank_families_ref        test_rerank_ref's checker over them: the
#                                   float64 PyTorch reference on every
#                                   kernel path, F32 / F16 / BF16
akidb_test(test_rerank_families SOURCES test_rerank_families.c LIBS akidb_model
           PkgConfig::JANSSON ARGS heads config tensors logit_score module_names qwen3_pad
           out_of_memory
           TIMEOUT 300)

add_test(NAME rerank_families_ref_models_gen
         COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/ref/make_rerank_families.py
                 --out ${CMAKE_BINARY_DIR}/ref_rerank_families
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(rerank_families_ref_models_gen PROPERTIES
  FIXTURES_SETUP rerank_families_ref_models TIMEOUT 600)
set_tests_properties(test_rerank_families PROPERTIES
  FIXTURES_REQUIRED rerank_families_ref_models)

add_test(NAME test_rerank_families_ref COMMAND test_rerank_ref rerank_ref
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(test_rerank_families_ref PROPERTIES
  FIXTURES_REQUIRED rerank_families_ref_models TIMEOUT 600
  ENVIRONMENT "AKIDB_SRC=${CMAKE_SOURCE_DIR};AKIDB_BUILD=${CMAKE_BINARY_DIR};AKIDB_RERANK_MODELS=${CMAKE_BINARY_DIR}/ref_rerank_families")
