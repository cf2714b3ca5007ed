# families.cmake - the model families beyond BERT (tests/test_families.c).
#
#   test_families            family table, config fields, tensor names, the
#                            id API, reduced precision, out of memory; needs
#                            no Python
#   families_ref_models_gen  fixture: tests/ref/make_families.py makes
#                            <build>/ref_families (needs python3-torch)
#   test_families_ref        DistilBERT / RoBERTa / XLM-R against the PyTorch
#                            reference on every kernel path
akidb_test(test_families SOURCES test_families.c LIBS akidb_model
           ARGS lookup config_errors tensors ids_api reduced out_of_memory TIMEOUT 300)

add_test(NAME families_ref_models_gen
         COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/ref/make_families.py
                 --out ${CMAKE_BINARY_DIR}/ref_families
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(families_ref_models_gen PROPERTIES
  FIXTURES_SETUP families_ref_models TIMEOUT 600)

add_test(NAME test_families_ref COMMAND test_families families_ref
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(test_families_ref PROPERTIES
  FIXTURES_REQUIRED families_ref_models TIMEOUT 600
  ENVIRONMENT "AKIDB_SRC=${CMAKE_SOURCE_DIR};AKIDB_BUILD=${CMAKE_BINARY_DIR}")
