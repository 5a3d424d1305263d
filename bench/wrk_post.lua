-- wrk script: POST /customers with the very body bytes and header lines
-- allawee sends (body from BENCH_BODY_FILE, key from ALLAWEE_SECRET_KEY).
-- The Idempotency-Key is fixed: wrk measures the server's ceiling, and a
-- per-request key would measure wrk's Lua instead.
local f = assert(io.open(assert(os.getenv("BENCH_BODY_FILE")), "rb"))
wrk.method = "POST"
wrk.path = "/customers"
wrk.body = f:read("*a")
f:close()
wrk.headers["Authorization"] = "Bearer " .. assert(os.getenv("ALLAWEE_SECRET_KEY"))
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json"
wrk.headers["Idempotency-Key"] = "00000000-0000-4000-8000-000000000000"
