# Container image and Kubernetes manifests (scripts/container.sh): builds the
# image with podman, runs it with a data volume, checks the REST API through
# the published port across a restart, and validates deploy/k8s/.  Off by
# default (it needs podman and root, and builds an image); configure with
# AKIDB_TEST_CONTAINER=1 in the environment to register it.
if(DEFINED ENV{AKIDB_TEST_CONTAINER} AND NOT "$ENV{AKIDB_TEST_CONTAINER}" STREQUAL "0")
  add_test(NAME container COMMAND bash ${CMAKE_SOURCE_DIR}/scripts/container.sh
           WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(container PROPERTIES TIMEOUT 900 ENVIRONMENT "AKIDB_JOBS=2")
endif()
