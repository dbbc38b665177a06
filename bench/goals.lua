-- wrk script: posts ExpertSender Goals documents, rotating over a file of valid
-- MessageGuids (one per line). Arguments after "--": guid file, API key, goal id.
-- Counts requests sent, 201 answers and other answers per thread, and prints one
-- line "BENCH {json}" at the end for bench/run.py to read.

local TEMPLATE = '<ApiRequest xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
  .. 'xmlns:xs="http://www.w3.org/2001/XMLSchema"><ApiKey>%s</ApiKey><Data>'
  .. '<GoalId>%s</GoalId><GoalValue>1999</GoalValue><MessageGuid>%s</MessageGuid>'
  .. '</Data></ApiRequest>'

local requests = {}
local count = 0
local index = 0
local threads = {}

sent = 0
created = 0
other = 0

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  local guid_file, key, goal = args[1], args[2], args[3]
  for guid in io.lines(guid_file) do
    count = count + 1
    requests[count] = wrk.format(
      "POST",
      "/v2/Api/Goals",
      { ["Host"] = wrk.headers["Host"], ["Content-Type"] = "text/xml" },
      string.format(TEMPLATE, key, goal, guid)
    )
  end
  index = (id or 0) * 997 % count
end

function request()
  index = index % count + 1
  sent = sent + 1
  return requests[index]
end

function response(status, headers, body)
  if status == 201 then
    created = created + 1
  else
    other = other + 1
  end
end

function done(summary, latency, _)
  local s, c, o = 0, 0, 0
  for _, thread in ipairs(threads) do
    s = s + thread:get("sent")
    c = c + thread:get("created")
    o = o + thread:get("other")
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH {"sent": %d, "created": %d, "other": %d, "responses": %d, "duration_us": %d, '
      .. '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "socket_errors": %d}\n',
    s, c, o, summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.connect + e.read + e.write + e.timeout
  ))
end
