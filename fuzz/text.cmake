# Tokenizer fuzz targets: the tokenizer.json loader, and encoding with the
# MiniLM tokenizer (run from the source root or set AKIDB_SRC).
akidb_fuzz(fuzz_tokenizer_json SOURCES fuzz_tokenizer_json.c LIBS akidb_text akidb_common)
akidb_fuzz(fuzz_tokenize SOURCES fuzz_tokenize.c LIBS akidb_text akidb_common)
akidb_fuzz(fuzz_pretok SOURCES fuzz_pretok.c LIBS akidb_text akidb_common)
akidb_fuzz(fuzz_tok_bpe SOURCES fuzz_tok_bpe.c LIBS akidb_text akidb_common)
akidb_fuzz(fuzz_tok_unigram SOURCES fuzz_tok_unigram.c LIBS akidb_text akidb_common)
akidb_fuzz(fuzz_spm_model SOURCES fuzz_spm_model.c LIBS akidb_text akidb_common)
akidb_fuzz(fuzz_tok_decode SOURCES fuzz_tok_decode.c LIBS akidb_text akidb_common)
akidb_fuzz(fuzz_tok_scan SOURCES fuzz_tok_scan.c LIBS akidb_text akidb_common)
