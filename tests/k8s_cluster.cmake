# k8s_cluster.cmake - the Kubernetes manifests of a 3-node cluster
# (deploy/k8s/cluster/), checked without a cluster by
# scripts/k8s_cluster_check.sh: rendered with `kubectl kustomize`, kubectl
# client dry runs and the OpenAPI schema (scripts/k8s_check.sh), the names
# and ports written into `akidb serve`'s arguments and nats-server.conf
# against the objects defined (with planted mistakes that must be found),
# and `nats-server -t` on the configuration.  Skips (77) without kubectl or
# python3-yaml.
add_test(NAME k8s_cluster COMMAND bash ${CMAKE_SOURCE_DIR}/scripts/k8s_cluster_check.sh
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(k8s_cluster PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)
