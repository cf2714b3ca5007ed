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
