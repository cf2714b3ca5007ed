# tok_offsets.cmake - token offsets (akidb_tokenizer_encode_offsets) against
# the Rust library's, for MiniLM, Qwen3 and Gemma 3 (tests/test_tok_offsets.c;
# goldens by tests/ref/tok_offsets_ref.mjs).
akidb_test(test_tok_offsets SOURCES test_tok_offsets.c LIBS akidb_text akidb_common)
