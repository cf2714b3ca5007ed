# qdrant.cmake - the Qdrant REST API (tests/test_qdrant.c): point ids and
# filter translation as pure functions, then Qdrant's official JavaScript
# client (tests/ref/qdrant_client.mjs) and LangChain's QdrantVectorStore with
# OpenAIEmbeddings on /v1/embeddings (tests/ref/langchain_client.mjs) against
# `akidb serve`, each skipped when node or its package (@qdrant/js-client-rest,
# @langchain/qdrant) in tests/ref/node_modules is missing.
if(TARGET akidb_server AND TARGET akidb_store)
  akidb_test(test_qdrant SOURCES test_qdrant.c
    LIBS akidb_server akidb_store akidb_common PkgConfig::JANSSON m TIMEOUT 120)
  add_dependencies(test_qdrant akidb)   # its client case runs the binary
endif()
# int8 quantisation over REST (tests/test_qdrant_sq8.c): Qdrant's
# quantization_config and search params.quantization, AkiDB's own
# "quantization" on create and search, a restart.
if(TARGET akidb_server AND TARGET akidb_store)
  pkg_check_modules(CURL_Q8 REQUIRED IMPORTED_TARGET libcurl)
  akidb_test(test_qdrant_sq8 SOURCES test_qdrant_sq8.c
    LIBS akidb_server akidb_store akidb_model PkgConfig::CURL_Q8 PkgConfig::JANSSON m TIMEOUT 300)
endif()
