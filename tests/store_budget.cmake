# The search work budget and the top_k / ef limits of the store and the
# index (akidb_search, ak_search_opts.max_visits): exact answers for
# selective filters with bounded work, refusals naming the budget.
if(TARGET akidb_store)
  akidb_test(test_store_budget SOURCES test_store_budget.c LIBS akidb_store akidb_index)
endif()
