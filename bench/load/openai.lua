-- openai.lua - POST /v1/embeddings (OpenAI shape), INPUTS inputs per request
-- (default 8), optional DIMENSIONS and FORMAT=base64.
--   AKIDB_KEY=ak_... INPUTS=8 wrk -t4 -c32 -d30s -s bench/load/openai.lua http://127.0.0.1:8080
package.path = package.path .. ";bench/load/?.lua;./?.lua"
local c = require("common")
local counter = 0
local n = c.env_int("INPUTS", 8)
local dims = os.getenv("DIMENSIONS")
local fmt = os.getenv("FORMAT")

request = function()
  counter = counter + 1
  local inputs = {}
  for i = 1, n do inputs[i] = '"' .. c.sentence(counter * 104729 + i, 16) .. '"' end
  local body = '{"input":[' .. table.concat(inputs, ",") .. ']'
  if dims and dims ~= "" then body = body .. ',"dimensions":' .. dims end
  if fmt and fmt ~= "" then body = body .. ',"encoding_format":"' .. fmt .. '"' end
  body = body .. '}'
  return wrk.format("POST", "/v1/embeddings", c.headers(), body)
end

response = c.response
