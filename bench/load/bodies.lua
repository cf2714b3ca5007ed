-- bodies.lua - POSTs the lines of the file $BODIES (one JSON body per line,
-- cycled; each wrk thread starts at a different line) to $ROUTE.  Built once
-- at start, so the client spends no time making requests.  At the end prints
-- one JSON line "wrk-json: {...}" with requests/s and latency percentiles
-- (ms), for bench/load/run.sh.
--   BODIES=q.jsonl ROUTE=/api/v1/collections/load/search wrk -t1 -c4 -d20s -s bench/load/bodies.lua http://127.0.0.1:8080
package.path = package.path .. ";bench/load/?.lua;./?.lua"
local c = require("common")
local route = os.getenv("ROUTE") or "/"
local reqs, i = {}, 0

local f = assert(io.open(os.getenv("BODIES") or "", "r"), "set BODIES to a file of JSON lines")
for line in f:lines() do
  if line ~= "" then reqs[#reqs + 1] = wrk.format("POST", route, c.headers(), line) end
end
f:close()
assert(#reqs > 0, "BODIES has no lines")

local tid = 0
setup = function(thread)
  tid = tid + 1
  thread:set("start", tid * 97)
end

init = function(args)
  i = (start or 0) % #reqs
end

request = function()
  i = i % #reqs + 1
  return reqs[i]
end

response = c.response

done = function(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format(
    'wrk-json: {"requests": %d, "seconds": %.3f, "rps": %.2f, "errors": {"connect": %d, ' ..
    '"read": %d, "write": %d, "status": %d, "timeout": %d}, "latency_ms": {"mean": %.3f, ' ..
    '"p50": %.3f, "p90": %.3f, "p95": %.3f, "p99": %.3f, "max": %.3f}}\n',
    summary.requests, secs, summary.requests / secs, e.connect, e.read, e.write, e.status,
    e.timeout, latency.mean / 1000, latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(95) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
