# bench_rerank.cmake - `akidb bench rerank` (tests/test_bench_rerank.c) on the
# reranker fixture's ms-marco-MiniLM-shaped folder (rerank_ref_models,
# tests/rerank.cmake); it runs the binary, so it depends on it.
akidb_test(test_bench_rerank SOURCES test_bench_rerank.c LIBS akidb_model PkgConfig::JANSSON
           TIMEOUT 120)
set_tests_properties(test_bench_rerank PROPERTIES FIXTURES_REQUIRED rerank_ref_models)
add_dependencies(test_bench_rerank akidb)
