# Model fuzz targets: the safetensors header parser.
akidb_fuzz(fuzz_safetensors SOURCES fuzz_safetensors.c LIBS akidb_model akidb_common)
