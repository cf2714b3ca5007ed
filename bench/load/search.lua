-- search.lua - POST /api/v1/collections/$COLLECTION/search.  MODE=text
-- (default; the collection needs a bound model) embeds a query per request;
-- MODE=vector sends a random vector of DIM numbers (default 384); MODE=query
-- uses the compatibility route .../query.  TOP_K defaults to 10; FILTER is
-- an optional JSON filter.  Fill the collection first with setup.sh.
--   AKIDB_KEY=ak_... COLLECTION=bench MODE=text wrk -t4 -c32 -d30s -s bench/load/search.lua http://127.0.0.1:8080
package.path = package.path .. ";bench/load/?.lua;./?.lua"
local c = require("common")
local counter = 0
local coll = os.getenv("COLLECTION") or "bench"
local mode = os.getenv("MODE") or "text"
local dim = c.env_int("DIM", 384)
local top_k = c.env_int("TOP_K", 10)
local filter = os.getenv("FILTER")

request = function()
  counter = counter + 1
  local path = "/api/v1/collections/" .. coll .. "/search"
  local body
  if mode == "vector" then
    body = '{"vector":' .. c.vector(counter * 31 + 7, dim) .. ',"top_k":' .. top_k
  elseif mode == "query" then
    path = "/api/v1/collections/" .. coll .. "/query"
    body = '{"query_vector":' .. c.vector(counter * 31 + 7, dim) .. ',"top_k":' .. top_k
  else
    body = '{"text":"' .. c.sentence(counter * 7919, 8) .. '","top_k":' .. top_k
  end
  if filter and filter ~= "" then body = body .. ',"filter":' .. filter end
  body = body .. '}'
  return wrk.format("POST", path, c.headers(), body)
end

response = c.response
