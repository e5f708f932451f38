-- wrk script: POST the body read from the file named by BENCH_BODY, with BENCH_CONTENT_TYPE
-- (default application/json; "-" sends none) and, when set, BENCH_HEADER_LENGTH as
-- Inference-Header-Content-Length (V2's binary tensor data).
local file = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
wrk.method = "POST"
local content_type = os.getenv("BENCH_CONTENT_TYPE") or "application/json"
if content_type ~= "-" then
  wrk.headers["Content-Type"] = content_type
end
local header_length = os.getenv("BENCH_HEADER_LENGTH")
if header_length then
  wrk.headers["Inference-Header-Content-Length"] = header_length
end
wrk.body = file:read("*a")
file:close()
