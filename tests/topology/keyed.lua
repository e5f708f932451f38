-- wrk script: many clients over few connections, as one application backend forwards its users.
-- Arguments: responses per thread, client ids, marker folder, then one or more request bodies.
-- Request n carries X-Client-ID client-<n mod ids> and the bodies in turn; the X-Request-ID
-- names the client, so each response is told to its client (nginx and the service echo it).
-- Counts responses and non-2xx per X-Model-Version, and per client the first second it met each
-- version and the last: stickiness is "no client meets the old version again after the new
-- one, past the slots' keepalive_time". Prints one JSON line, as load.lua does.
local threads = {}

function setup(thread)
    table.insert(threads, thread)
    thread:set("id", #threads)
end

function init(args)
    limit = tonumber(args[1])
    ids = tonumber(args[2])
    marker = args[3] .. "/thread-" .. id .. ".done"
    bodies = {}
    for index = 4, #args do
        table.insert(bodies, args[index])
    end
    sent, responses = 0, 0
    versions, failed = {}, {}
    first_seen, last_seen = {}, {}
end

function request()
    sent = sent + 1
    local client = (sent * 2 + id) % ids
    local headers = {
        ["Content-Type"] = "application/json",
        ["X-Client-ID"] = "client-" .. client,
        ["X-Request-ID"] = "c" .. client .. "-" .. id .. "-" .. sent,
    }
    return wrk.format("POST", nil, headers, bodies[sent % #bodies + 1])
end

function response(status, headers, body)
    responses = responses + 1
    local version = headers["x-model-version"] or "none"
    versions[version] = (versions[version] or 0) + 1
    if status < 200 or status > 299 then
        failed[version] = (failed[version] or 0) + 1
    end
    local client = string.match(headers["x-request-id"] or "", "^c(%d+)-")
    if client then
        local key = client .. "/" .. version
        local now = os.time()
        first_seen[key] = first_seen[key] or now
        last_seen[key] = now
    end
    if responses == limit then
        io.open(marker, "w"):close()
        wrk.thread:stop()
    end
end

local function merge(into, from, pick)
    for key, value in pairs(from) do
        into[key] = into[key] and pick(into[key], value) or value
    end
end

local function encode(map)
    local parts = {}
    for key, value in pairs(map) do
        table.insert(parts, string.format('"%s":%d', key, value))
    end
    return "{" .. table.concat(parts, ",") .. "}"
end

function done(summary, latency, requests)
    local versions, failed, first, last = {}, {}, {}, {}
    local add = function(a, b) return a + b end
    for _, thread in ipairs(threads) do
        merge(versions, thread:get("versions"), add)
        merge(failed, thread:get("failed"), add)
        merge(first, thread:get("first_seen"), math.min)
        merge(last, thread:get("last_seen"), math.max)
    end
    local e = summary.errors
    io.write(string.format(
        '{"versions":%s,"non_2xx":%s,"first_seen":%s,"last_seen":%s,' ..
        '"errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d},"seconds":%.3f}\n',
        encode(versions), encode(failed), encode(first), encode(last),
        e.connect, e.read, e.write, e.timeout, summary.duration / 1e6))
end
