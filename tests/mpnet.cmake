# mpnet.cmake - the MPNet family (tests/test_mpnet.c, tests/ref/make_mpnet.py).
#
#   test_mpnet              config fields, tensor names, the relative position
#                           bias (its attention kernel on every path, its
#                           effect on the model), threads, reduced precision,
#                           out of memory; needs no Python
#   mpnet_ref_models_gen    fixture: tests/ref/make_mpnet.py makes
#                           <build>/ref_mpnet (needs python3-torch)
#   test_mpnet_ref          the id-level references through test_families'
#                           families_ref checker, every kernel path
akidb_test(test_mpnet SOURCES test_mpnet.c LIBS akidb_model
           ARGS config tensors attention bias forward reduced out_of_memory TIMEOUT 300)

add_test(NAME mpnet_ref_models_gen
         COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/ref/make_mpnet.py
                 --out ${CMAKE_BINARY_DIR}/ref_mpnet
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(mpnet_ref_models_gen PROPERTIES
  FIXTURES_SETUP mpnet_ref_models TIMEOUT 600)

add_test(NAME test_mpnet_ref COMMAND test_families families_ref
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(test_mpnet_ref PROPERTIES
  FIXTURES_REQUIRED mpnet_ref_models TIMEOUT 600
  ENVIRONMENT "AKIDB_SRC=${CMAKE_SOURCE_DIR};AKIDB_BUILD=${CMAKE_BINARY_DIR};AKIDB_FAMILY_MODELS=${CMAKE_BINARY_DIR}/ref_mpnet")
