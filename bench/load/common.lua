-- common.lua - shared by the AkiDB wrk scripts: headers (API key from
-- AKIDB_KEY), a deterministic sentence generator, and a response check that
-- counts non-2xx answers so a run that only measured errors is visible.
local M = {}

local words = {"vector", "database", "embedding", "model", "search", "query", "token",
               "batch", "latency", "memory", "small", "machine", "cosine", "neighbour",
               "index", "graph", "layer", "text", "sentence", "server", "request", "cache",
               "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "river", "mountain",
               "city", "music", "coffee", "morning", "network", "kernel", "thread"}

function M.headers()
  local h = {["Content-Type"] = "application/json"}
  local key = os.getenv("AKIDB_KEY")
  if key and key ~= "" then h["Authorization"] = "Bearer " .. key end
  return h
end

-- A sentence of n words chosen by a simple LCG from seed.
function M.sentence(seed, n)
  local out, x = {}, seed
  for i = 1, n do
    x = (x * 1103515245 + 12345) % 2147483648
    out[i] = words[(x % #words) + 1]
  end
  return table.concat(out, " ")
end

-- A JSON array of dim pseudo-random numbers in [-1, 1].
function M.vector(seed, dim)
  local out, x = {}, seed
  for i = 1, dim do
    x = (x * 1103515245 + 12345) % 2147483648
    out[i] = string.format("%.4f", (x / 1073741824) - 1)
  end
  return "[" .. table.concat(out, ",") .. "]"
end

M.bad = 0
function M.response(status, headers, body)
  if status < 200 or status >= 300 then
    M.bad = M.bad + 1
    if M.bad <= 3 then io.stderr:write("status " .. status .. ": " .. (body or "") .. "\n") end
  end
end

function M.env_int(name, default)
  local v = tonumber(os.getenv(name) or "")
  return v or default
end

return M
