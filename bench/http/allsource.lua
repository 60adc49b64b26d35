-- allsource.lua — wrk script for bench/http/run.sh.
--
-- Environment:
--   BENCH_MODE    single | batch | query            (default single)
--   BENCH_BATCH   events per batch request          (default 100)
--   BENCH_SIZE    bytes per event JSON object       (default 300)
--   BENCH_QUERY_ENTITIES  number of pre-loaded entities q-000000..  (default 10000)
--
-- Every wrk thread pre-builds a pool of complete HTTP requests in init(), so
-- request() only hands out a ready string and wrk spends its CPU on the
-- network, not on Lua.  Entity ids are random (ent-0000000 .. ent-0999999),
-- so almost every single-event request appends to a different entity.
--
-- done() prints one machine-readable line (latencies in microseconds):
--   WRK requests=N duration_us=D rps=R p50_us=A p90_us=B p99_us=C max_us=M
--       errors_status=S errors_connect=C errors_read=R errors_write=W errors_timeout=T

local mode = os.getenv("BENCH_MODE") or "single"
local batch = tonumber(os.getenv("BENCH_BATCH") or "100")
local size = tonumber(os.getenv("BENCH_SIZE") or "300")
local qents = tonumber(os.getenv("BENCH_QUERY_ENTITIES") or "10000")

local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  table.insert(threads, thread)
end

-- One event object of exactly `size` bytes (when size is large enough).
local function event(entity, n)
  local head = string.format(
    '{"event_type":"order.created","entity_id":"%s","payload":{"order_id":"ord-%08d",' ..
    '"customer":"cust-0042","amount":129.95,"currency":"EUR","items":3,"note":"',
    entity, n)
  local pad = size - #head - 3
  if pad < 0 then pad = 0 end
  return head .. string.rep("x", pad) .. '"}}'
end

local pool = {}
local npool = 0
local idx = 0

function init(args)
  local t = tid or 1
  math.randomseed(os.time() * 1000 + t * 7919)
  local json = { ["Content-Type"] = "application/json" }
  if mode == "single" then
    npool = 4096
    for i = 1, npool do
      local ent = string.format("ent-%07d", math.random(0, 999999))
      pool[i] = wrk.format("POST", "/api/v1/events", json, event(ent, t * 1000000 + i))
    end
  elseif mode == "batch" then
    npool = 32
    for i = 1, npool do
      local parts = {}
      for j = 1, batch do
        local ent = string.format("ent-%07d", math.random(0, 999999))
        parts[j] = event(ent, (t * 1000 + i) * 1000 + j)
      end
      pool[i] = wrk.format("POST", "/api/v1/events/batch", json,
                           "[" .. table.concat(parts, ",") .. "]")
    end
  elseif mode == "query" then
    npool = 4096
    for i = 1, npool do
      local ent = string.format("q-%06d", math.random(0, qents - 1))
      pool[i] = wrk.format("GET", "/api/v1/events/query?entity_id=" .. ent, nil, nil)
    end
  else
    error("BENCH_MODE must be single, batch or query")
  end
  idx = math.random(0, npool - 1)
end

function request()
  idx = idx + 1
  if idx > npool then idx = 1 end
  return pool[idx]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK requests=%d duration_us=%d rps=%.1f p50_us=%d p90_us=%d p99_us=%d max_us=%d " ..
    "errors_status=%d errors_connect=%d errors_read=%d errors_write=%d errors_timeout=%d\n",
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.status, e.connect, e.read, e.write, e.timeout))
end
