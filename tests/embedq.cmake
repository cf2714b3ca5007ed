# embedq.cmake - test_embedq.c: the bounds of a model's embedding queue on
# the direct model calls the batcher cannot merge (ak_emodel_enter).
if(TARGET akidb_server)
  akidb_test(test_embedq SOURCES test_embedq.c
    LIBS akidb_server akidb_store akidb_model PkgConfig::CURL_T PkgConfig::JANSSON m TIMEOUT 120)
endif()
