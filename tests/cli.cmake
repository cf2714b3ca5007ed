# The akidb binary's commands, run as child processes (tests/test_cli.c);
# the test needs the binary built, so it depends on it.
akidb_test(test_cli SOURCES test_cli.c LIBS akidb_common TIMEOUT 300)
add_dependencies(test_cli akidb)
