akidb_test(test_tokenizer SOURCES test_tokenizer.c LIBS akidb_text akidb_common)
