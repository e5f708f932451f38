-- wrk script: POST the body given as the second argument; each thread stops after its share
-- (first argument) of responses and then creates a file in the folder given as third argument,
-- so the caller can interrupt wrk (its main thread sleeps for the whole -d duration otherwise).
-- Counts non-2xx and X-Model-Version per response; prints one JSON line.
local threads = {}

function setup(thread)
    table.insert(threads, thread)
    thread:set("id", #threads)
end

function init(args)
    limit = tonumber(args[1])
    responses = 0
    non_2xx = 0
    versions = {}
    wrk.method = "POST"
    wrk.headers["Content-Type"] = "application/json"
    wrk.body = args[2]
    marker = args[3] .. "/thread-" .. id .. ".done"
end

function response(status, headers, body)
    responses = responses + 1
    if status < 200 or status > 299 then
        non_2xx = non_2xx + 1
    end
    local version = headers["x-model-version"] or "none"
    versions[version] = (versions[version] or 0) + 1
    if responses == limit then
        io.open(marker, "w"):close()
        wrk.thread:stop()
    end
end

function done(summary, latency, requests)
    local total, failed, seen = 0, 0, {}
    for _, thread in ipairs(threads) do
        total = total + thread:get("responses")
        failed = failed + thread:get("non_2xx")
        for version, count in pairs(thread:get("versions")) do
            seen[version] = (seen[version] or 0) + count
        end
    end
    local parts = {}
    for version, count in pairs(seen) do
        table.insert(parts, string.format('"%s":%d', version, count))
    end
    local e = summary.errors
    io.write(string.format(
        '{"responses":%d,"non_2xx":%d,"seconds":%.3f,"versions":{%s},' ..
        '"errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d}}\n',
        total, failed, summary.duration / 1e6, table.concat(parts, ","),
        e.connect, e.read, e.write, e.timeout))
end
