# tei.cmake - the Hugging Face text-embeddings-inference routes
# (tests/test_tei.c) and the OpenAI embeddings details, bad bodies and auth
# (tests/test_tei_compat.c): a server in-process over
# real HTTP, answers compared with the library's values on the same models;
# its `clients` case runs the npm clients `openai` and
# `@huggingface/inference` (tests/ref/tei_openai_client.mjs) against
# `akidb serve`, skipped when node or tests/ref/node_modules lack them.
if(TARGET akidb_server AND TARGET akidb_store)
  pkg_check_modules(CURL_T REQUIRED IMPORTED_TARGET libcurl)
  akidb_test(test_tei SOURCES test_tei.c
    LIBS akidb_server akidb_store akidb_model PkgConfig::CURL_T PkgConfig::JANSSON m TIMEOUT 300)
  # OpenAI details, bad bodies, auth and the npm clients
  akidb_test(test_tei_compat SOURCES test_tei_compat.c
    LIBS akidb_server akidb_store akidb_model PkgConfig::CURL_T PkgConfig::JANSSON m TIMEOUT 300)
  add_dependencies(test_tei_compat akidb)   # its clients case runs the binary
endif()
# test_tei_tokens.c: akidb_embed_tokens (the rows of /embed_all) against the
# committed tiny model's float64 references and the library's poolings.
if(TARGET akidb_server)
  akidb_test(test_tei_tokens SOURCES test_tei_tokens.c
    LIBS akidb_model PkgConfig::CURL_T PkgConfig::JANSSON m)
endif()
