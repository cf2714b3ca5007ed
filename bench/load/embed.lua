-- embed.lua - POST /api/v1/embed with TEXTS texts of WORDS words each
-- (defaults 1 and 12), MODEL optional.  Measures the embedding batcher:
--   AKIDB_KEY=ak_... TEXTS=4 wrk -t4 -c32 -d30s -s bench/load/embed.lua http://127.0.0.1:8080
package.path = package.path .. ";bench/load/?.lua;./?.lua"
local c = require("common")
local counter = 0
local n_texts = c.env_int("TEXTS", 1)
local n_words = c.env_int("WORDS", 12)
local model = os.getenv("MODEL")

request = function()
  counter = counter + 1
  local texts = {}
  for i = 1, n_texts do
    texts[i] = '"' .. c.sentence(counter * 7919 + i, n_words) .. '"'
  end
  local body = '{"texts":[' .. table.concat(texts, ",") .. ']'
  if model and model ~= "" then body = body .. ',"model":"' .. model .. '"' end
  body = body .. '}'
  return wrk.format("POST", "/api/v1/embed", c.headers(), body)
end

response = c.response

done = function(summary, latency, requests)
  io.write(string.format("texts/request %d, non-2xx %d (this thread's view; see summary)\n",
                         n_texts, c.bad))
end
