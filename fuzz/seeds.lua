--[[
fuzz/seeds.lua: writes the seed corpus of both fuzz targets, so that every
seed is explained here rather than being an opaque blob.

    lua5.4 fuzz/seeds.lua        (from the repository root)

Inputs are the byte programs that fuzz_encode.c and fuzz_response.c read;
see the layouts at the top of those files. Crash reproducers that fuzzing
finds are added to fuzz/corpus/<target>/ by hand (crash-*), not here.
]]

local function write(dir, name, bytes)
  local f = assert(io.open(("fuzz/corpus/%s/%s"):format(dir, name), "wb"))
  f:write(bytes)
  f:close()
end

local function u64(n)       -- big-endian, as fuzz_u64 reads
  return string.pack(">i8", n)
end

local function double_bits(d)
  return string.pack(">d", d)
end

------------------------------------------------------------------ encoder
-- mode byte: odd = template (mode >> 1 picks it), then a mutation count
-- byte and mutations (path index, op byte, value program); even = a value
-- program. A value program is: kind byte, count byte, then kind data.
-- Path indices are those of `paths` in fuzz_encode.c.
local P = { name = 0, verifications = 4, busDirectors = 15, userId = 26, nested = 27, meta1 = 28 }
local K = { bool = 0, int8 = 1, int64 = 2, bits = 3, special = 4, word = 5, bytes = 6,
            null = 7, empty_array = 8, object = 9, array = 11, array_mt = 13, ref = 14,
            chain = 15, mixed = 16, wide = 17, unencodable = 18 }
local function set(path, value) return string.char(path, 1) .. value end
local function template(n, ...)
  local muts = { ... }
  return string.char(n * 2 + 1, math.max(#muts - 1, 0)) .. table.concat(muts)
end

local E = "fuzz_encode"
write(E, "individual-documented", template(0))
write(E, "business-documented", template(1))
write(E, "minimal-documented", template(2))
write(E, "metadata-int64-max", template(0, set(P.userId, string.char(K.int64, 0) .. u64(math.maxinteger))))
write(E, "metadata-nan", template(0, set(P.userId, string.char(K.special, 0, 0))))
write(E, "metadata-float-0.1", template(0, set(P.userId, string.char(K.bits, 0) .. double_bits(0.1))))
write(E, "metadata-deep-chain", template(0, set(P.nested, string.char(K.chain, 0, 47))))
write(E, "name-bad-utf8", template(0, set(P.name, string.char(K.bytes, 0, 4, 0xff, 0xfe, 0xc0, 0x80))))
write(E, "verifications-empty-array-mt", template(2, set(P.verifications, string.char(K.array_mt, 0))))
write(E, "directors-empty-array", template(1, set(P.busDirectors, string.char(K.empty_array, 0))))
write(E, "metadata-mixed", template(0, set(P.meta1, string.char(K.word, 0, 1))))
-- 64 keys: past the encoder's stack array of 32 sorted keys.
write(E, "metadata-wide-object", template(0, set(P.nested, string.char(K.wide, 20, 1) ..
  ("\1\1"):rep(64))))
-- { name = <the root itself> }: a cycle.
write(E, "cycle", string.char(0, K.object, 1, 0, 0, K.ref, 0, 0))
-- { [1] = "tier-1", [2] = true, x = null }: mixed, and an array of 3.
write(E, "mixed-table", string.char(0, K.mixed, 7, 1, K.word, 0, 35, K.bool, 0, 0, 0, K.null, 0))
write(E, "array-of-values", string.char(0, K.array, 6, K.int64, 0) .. u64(-1) ..
  string.char(K.bits, 0) .. double_bits(-0.0) .. string.char(K.special, 0, 1, K.unencodable, 0, 0,
  K.word, 0, 41, K.null, 0))

----------------------------------------------------------------- response
-- flags, status (0x80 | index into interesting_statuses), index, attempts,
-- chunk size, header lines, a blank line, the body.
local S = { [200] = 0, [201] = 1, [202] = 2, [302] = 7, [400] = 9, [401] = 10, [403] = 11,
            [404] = 12, [409] = 13, [429] = 16, [500] = 18, [502] = 19, [503] = 20, [0] = 23 }
local function response(flags, status, headers, body, attempts, chunk)
  return string.char(flags, 0x80, S[status], attempts or 1, chunk or 255) ..
    table.concat(headers, "\n") .. "\n\n" .. body
end
local JSON = { "x-request-id: req_7Yt0aQ", "content-type: application/json" }
local BOTH = 3                                   -- outcome and interpret
local SUCCESS = '{"code":"success","data":{"name":"Ciroma C Adekunle","type":"individual",' ..
  '"status":"active","claims":{"individualInformation":{"firstName":"Ciroma"}},' ..
  '"verifications":[{"type":"tier-2","status":"verified"}],"metadata":{"userId":2345},' ..
  '"createdAt":"2023-03-14T23:21:12.882Z","id":"cus.2tXNjMhytgx7hCxu9","object":"customer"}}'

local R = "fuzz_response"
write(R, "201-documented-success", response(BOTH, 201, JSON, SUCCESS))
write(R, "202-accepted", response(BOTH, 202, JSON, '{"code":"request-accepted","message":' ..
  '"Request accepted and will be processed asynchronously","error":{"code":' ..
  '"service-unavailable","message":"Service temporarily unavailable"}}'))
write(R, "401-code-shape", response(BOTH, 401, JSON, '{"code":"unauthorized","message":"Invalid key"}'))
write(R, "400-statusCode-shape", response(BOTH, 400, JSON,
  '{"statusCode": 400, "message": "Incorrect format for \'filter\' parameter."}'))
write(R, "409-reference-conflict", response(BOTH, 409, JSON, '{"code":"reference-conflict","message":"used"}'))
write(R, "429-retry-after", response(BOTH, 429, { "Retry-After: 2", JSON[1] }, '{"code":"too-many-requests"}', 2))
write(R, "503-retry-after-date", response(BOTH, 503, { "retry-after: Wed, 21 Oct 2015 07:28:00 GMT" },
  '{"code":"service-unavailable","message":"later"}', 3))
write(R, "502-html", response(BOTH, 502, { "Content-Type: text/html" },
  "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"))
write(R, "201-deep-nesting", response(BOTH, 201, JSON, '{"code":"success","data":' ..
  ("["):rep(100) .. ("]"):rep(100) .. "}"))
write(R, "201-bad-utf8", response(BOTH, 201, JSON, '{"code":"success","data":{"name":"A\255\254"}}'))
write(R, "201-numbers", response(BOTH, 201, JSON, '{"code":"success","data":{"big":12345678901234567890,' ..
  '"int":9007199254740993,"f":2345.0,"e":1e400,"neg":-0,"list":[1,2.5,-3e-7]}}', 1, 7))
write(R, "200-envelope-error", response(BOTH, 200, JSON, '{"code":"error","message":"something"}'))
write(R, "200-empty", response(BOTH, 200, JSON, ""))
write(R, "200-not-json", response(BOTH, 200, JSON, "this is not json"))
write(R, "302-redirect", response(BOTH, 302, { "Location: https://elsewhere.example/" }, ""))
write(R, "timeout", response(BOTH | (4 << 2), 0, {}, "Operation timed out after 80001 milliseconds"))
write(R, "too-large", response(BOTH | 0x80, 201, JSON, SUCCESS, 1, 16))
write(R, "100-continue-first", response(BOTH | 0x40, 201, JSON, SUCCESS))

----------------------------------------------------------------- http head
-- heads as servers send them, and as liars do (fuzz_http_head.c)
local H = "fuzz_http_head"
local function head(lines, sep) sep = sep or "\r\n" return table.concat(lines, sep) .. sep .. sep end
write(H, "201-nginx", head{ "HTTP/1.1 201 Created", "Server: nginx", "Date: Wed, 02 Dec 2026 13:00:00 GMT",
  "Content-Type: application/json", "Content-Length: 466", "Connection: keep-alive",
  "X-Request-Id: req_7Yt0aQ" } .. SUCCESS)
write(H, "200-chunked", head{ "HTTP/1.1 200 OK", "Transfer-Encoding: chunked" } .. "5\r\nhello\r\n0\r\n\r\n")
write(H, "bare-lf", head({ "HTTP/1.1 201 Created", "content-length: 2", "X-REQUEST-ID:  req_lf " }, "\n") .. "{}")
write(H, "repeated-field", head{ "HTTP/1.1 200 OK", "X-Request-Id: a", "x-request-id: b" })
write(H, "folded", head{ "HTTP/1.1 200 OK", "Content-Type: application/json;", "\tcharset=utf-8" })
write(H, "100-then-201", head{ "HTTP/1.1 100 Continue" } .. head{ "HTTP/1.1 201 Created", "Content-Length: 0" })
write(H, "503-retry-after", head{ "HTTP/1.0 503 Busy", "Retry-After: 7", "Connection: close" })
write(H, "bad-status", head{ "HTTP/1.1 2x1 Created", "A: b" })
write(H, "no-end", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r")
write(H, "repeated-then-bad-line", head({ "HTTP/1.1 200 OK", "X-Request-Id: a", "x-request-id: b",
  "content-length: 2", "X-" }, "\n"))
