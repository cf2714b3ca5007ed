-- upsert.lua - POST /api/v1/collections/$COLLECTION/points with BATCH points
-- (default 16) per request: text to embed with the bound model (MODE=text,
-- default) or vectors of DIM numbers (MODE=vector).  Ids never repeat
-- across threads (thread index in the id).
--   AKIDB_KEY=ak_... COLLECTION=bench wrk -t2 -c8 -d30s -s bench/load/upsert.lua http://127.0.0.1:8080
package.path = package.path .. ";bench/load/?.lua;./?.lua"
local c = require("common")
local coll = os.getenv("COLLECTION") or "bench"
local mode = os.getenv("MODE") or "text"
local dim = c.env_int("DIM", 384)
local batch = c.env_int("BATCH", 16)
local threads = {}
local counter, tid = 0, 0

setup = function(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

request = function()
  counter = counter + 1
  local pts = {}
  for i = 1, batch do
    local id = string.format("t%d-%d-%d", tid, counter, i)
    local seed = counter * 1000 + i + tid * 7777777
    local p = '{"id":"' .. id .. '","payload":{"n":' .. (seed % 100) .. '}'
    if mode == "vector" then
      p = p .. ',"vector":' .. c.vector(seed, dim)
    else
      p = p .. ',"text":"' .. c.sentence(seed, 12) .. '"'
    end
    pts[i] = p .. '}'
  end
  local body = '{"points":[' .. table.concat(pts, ",") .. ']}'
  return wrk.format("POST", "/api/v1/collections/" .. coll .. "/points", c.headers(), body)
end

response = c.response
