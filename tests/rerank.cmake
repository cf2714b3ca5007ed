# rerank.cmake - cross-encoder rerankers (tests/test_rerank.c,
# tests/test_rerank_ref.c).
#
#   test_rerank              token types through the forward, the
#                            classification heads' config and tensors,
#                            akidb_rerank, `akidb rerank`, out of memory;
#                            needs no Python
#   rerank_ref_models_gen    fixture: tests/ref/make_rerankers.py makes
#                            <build>/ref_rerankers (needs python3-torch)
#   test_rerank_ref          BERT / XLM-R / DistilBERT rerankers against the
#                            PyTorch reference on every kernel path, and the
#                            pair ids against the Rust tokenizers' golden
akidb_test(test_rerank SOURCES test_rerank.c LIBS akidb_model
           ARGS heads tensors types api cli out_of_memory TIMEOUT 300)

akidb_test(test_rerank_ref SOURCES test_rerank_ref.c LIBS akidb_model
           ARGS rerank_ref TIMEOUT 600)
add_test(NAME rerank_ref_models_gen
         COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/ref/make_rerankers.py
                 --out ${CMAKE_BINARY_DIR}/ref_rerankers
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(rerank_ref_models_gen PROPERTIES
  FIXTURES_SETUP rerank_ref_models TIMEOUT 600)
set_tests_properties(test_rerank_ref PROPERTIES FIXTURES_REQUIRED rerank_ref_models)
add_dependencies(test_rerank akidb)   # its cli test runs the binary
