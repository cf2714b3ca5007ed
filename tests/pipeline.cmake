# pipeline.cmake - the sentence-transformers pipeline around the transformer
# (tests/test_pipeline.c, tests/ref/make_pipeline.py): Pooling modes, Dense
# and Normalize modules, truncate_dim, include_prompt false.
#
#   test_pipeline             bad Dense folders named, Dense arithmetic,
#                             truncate_dim, pooling names, the CLI's
#                             --truncate-dim, out of memory; needs no Python
#   pipeline_ref_models_gen   fixture: tests/ref/make_pipeline.py makes
#                             <build>/ref_pipeline (needs python3-torch)
#   test_pipeline_ref         texts through akidb_embed against the float64
#                             PyTorch reference, every kernel path
akidb_test(test_pipeline SOURCES test_pipeline.c LIBS akidb_model PkgConfig::JANSSON
           ARGS dense_errors dense_math truncate pooling cli out_of_memory TIMEOUT 300)
add_dependencies(test_pipeline akidb)   # its cli test runs the binary

add_test(NAME pipeline_ref_models_gen
         COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/ref/make_pipeline.py
                 --out ${CMAKE_BINARY_DIR}/ref_pipeline
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(pipeline_ref_models_gen PROPERTIES
  FIXTURES_SETUP pipeline_ref_models TIMEOUT 600)

add_test(NAME test_pipeline_ref COMMAND test_pipeline pipeline_ref
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(test_pipeline_ref PROPERTIES
  FIXTURES_REQUIRED pipeline_ref_models TIMEOUT 600
  ENVIRONMENT "AKIDB_SRC=${CMAKE_SOURCE_DIR};AKIDB_BUILD=${CMAKE_BINARY_DIR}")
