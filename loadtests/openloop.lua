-- The open-loop schedule of openloop.py, run inside wrk (Debian's package): a C client
-- whose own CPU is a fraction of the Python generator's, on a machine whose two cores it
-- shares with the service and its database. See wrkloop.py, which writes the requests
-- and reads what this writes.
--
-- wrk -t1 -c N -d S -s openloop.lua http://host:port/ -- REQUESTS LEAD RATE OUT
--
-- REQUESTS: the encoded requests, each "<length>\n<bytes>", request i carrying
--   "X-Request-ID: <i as 32 hex digits>", which the service sends back, on a refusal too.
-- LEAD: seconds from when the requests are read to when request 0 is due (wrk opens its
--   connections meanwhile); request i is due i / RATE seconds after that.
-- OUT: one line per answer, "<i> <status> <latency from its due time, s> <send delay, s>";
--   i is -1 for an answer without the request's id (none should come).
--
-- wrk runs one connection's requests one after another; delay() is asked before each,
-- and the schedule makes it wait until the next request of the schedule is due (never
-- longer), so a request goes out when it is due whenever a connection is free. Its latency
-- is measured from its due time, not from when it went out: a wait for a free connection
-- counts, as in openloop.py. wrk's own latency figures (from the send) are not used.

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } wrkloop_timespec;
int clock_gettime(int clk_id, wrkloop_timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local ts = ffi.new("wrkloop_timespec")
local function now()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
end

local requests = {}
local start, rate
local scheduled, sent = 0, 0
answers = {} -- global: done() reads it from the thread with thread:get

local threads = {}

function setup(thread)
  threads[#threads + 1] = thread
end

function init(args)
  local f = assert(io.open(args[1], "rb"))
  while true do
    local size = f:read("*l")
    if not size then break end
    requests[#requests + 1] = f:read(tonumber(size))
  end
  f:close()
  -- out_path is global, as answers is: done() asks the thread for both.
  rate, out_path = tonumber(args[3]), args[4]
  start = now() + tonumber(args[2])
end

function delay()
  if scheduled >= #requests then
    return 3600 * 1000 -- all sent: this connection waits until the run stops
  end
  local due = start + scheduled / rate
  scheduled = scheduled + 1
  local wait = (due - now()) * 1000
  if wait <= 0 then return 0 end
  -- wrk's timers count whole milliseconds from a clock read in whole milliseconds, so
  -- one may fire up to two early: the latency below counts from the send then.
  return math.ceil(wait)
end

local delays = {}

function request()
  if scheduled == 0 then
    -- wrk asks once before any connection is ready, to see how many requests a call
    -- gives (once outside the threads, once in the first): not sent, nothing consumed.
    return requests[1] or wrk.format("GET", "/healthz")
  end
  sent = sent + 1
  delays[sent - 1] = now() - (start + (sent - 1) / rate)
  return requests[sent]
end

function response(status, headers, body)
  local t = now()
  local i = tonumber(headers["X-Request-ID"] or "", 16)
  if i == nil then
    answers[#answers + 1] = string.format("-1 %d 0 0", status)
    return
  end
  local delay = delays[i] or 0
  local from = start + i / rate + math.min(delay, 0)
  answers[#answers + 1] = string.format("%d %d %.6f %.6f", i, status, t - from, delay)
  if #answers == #requests then
    wrk.thread:stop() -- every request answered: no need to wait for the -d limit
  end
end

function done(summary, latency, requests)
  for _, thread in ipairs(threads) do
    local f = assert(io.open(thread:get("out_path"), "w"))
    local lines = thread:get("answers")
    if #lines > 0 then
      f:write(table.concat(lines, "\n"), "\n")
    end
    f:close()
  end
end
