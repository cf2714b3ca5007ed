# s3.cmake - the object-storage client (src/objstore, tests/test_s3.c).
#
#   test_s3          no network: AWS CLI config files, URLs, ListObjectsV2
#                    and error XML, a SigV4 verifier (OpenSSL HMAC) checked
#                    on AWS's published examples and then on what libcurl
#                    sends to a loopback stub, retries and error answers
#   test_s3_server   s3rver (tests/ref/s3rver_run.mjs) on loopback: put / get
#                    / head / list with continuation / delete, a few-MB
#                    object through files, missing key / bucket / access key;
#                    skipped (77) without node or s3rver in tests/ref
#   test_s3_awscli   the AWS CLI and this client on the same s3rver, each
#                    reading what the other wrote; skipped (77) without `aws`
if(TARGET akidb_objstore)
  akidb_test(test_s3 SOURCES test_s3.c LIBS akidb_objstore Threads::Threads
             TIMEOUT 120)
  add_test(NAME test_s3_server COMMAND test_s3 server WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  add_test(NAME test_s3_awscli COMMAND test_s3 awscli WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(test_s3_server test_s3_awscli PROPERTIES
    TIMEOUT 180 SKIP_RETURN_CODE 77
    ENVIRONMENT "AKIDB_SRC=${CMAKE_SOURCE_DIR};AKIDB_BUILD=${CMAKE_BINARY_DIR}")
endif()
