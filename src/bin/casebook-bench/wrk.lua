-- casebook-bench's script for wrk: the case's method, authorization and body
-- come from the environment, its paths from a file (one per line). Each
-- thread takes its own slice of the paths: round and round, or each path
-- once (a completion cannot be repeated), stopping when its slice runs out.
local method = os.getenv("BENCH_METHOD")
local auth = os.getenv("BENCH_AUTH")
local body = os.getenv("BENCH_BODY")
local once = os.getenv("BENCH_ONCE") == "1"
local threads = tonumber(os.getenv("BENCH_THREADS"))

local paths = {}
for line in io.lines(os.getenv("BENCH_PATHS")) do
  paths[#paths + 1] = line
end

local headers = {}
if auth ~= nil and auth ~= "" then
  headers["Authorization"] = auth
end
if body ~= nil and body ~= "" then
  headers["Content-Type"] = "application/json"
else
  body = nil
end

local started = 0
function setup(thread)
  thread:set("id", started)
  started = started + 1
end

local next_index = nil
function request()
  if next_index == nil then
    next_index = id + 1
  end
  if next_index > #paths then
    if once then
      -- This thread's share is used up: stop. wrk wants a request all the
      -- same; at most one cheap /healthz per connection is counted.
      wrk.thread:stop()
      return wrk.format("GET", "/healthz")
    end
    next_index = (next_index - 1) % #paths + 1
  end
  local path = paths[next_index]
  next_index = next_index + threads
  return wrk.format(method, path, headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests":%d,"duration_us":%d,"non2xx":%d,"socket_errors":%d,"p50_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
