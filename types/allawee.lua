---@meta allawee
--[[
LuaLS (lua-language-server) annotations for `require "allawee"`: hover
documentation, completion and type checks for code that uses the SDK. Most of
the API is written in C (allawee.core), so without this file an editor can
infer nothing about it. The file is never loaded at run time.

Use: add the directory that holds this file to the `workspace.library`
setting of LuaLS (.luarc.json, or "Lua.workspace.library" in VS Code):

  { "workspace.library": ["/path/to/allawee-lua/types"] }

A LuaRocks install ships it in the rock's directory:
`$(luarocks show --rock-dir allawee)/types`; `make install` puts it in
$(PREFIX)/share/allawee-lua/types.

Extending (when the API grows; spec/types_spec.lua fails until you do, as it
compares the names below with the live module, both ways):

- a module function or value:   a `---@field` line in `---@class allawee`
                                 or a `function allawee.name(...) end` below;
- a client method:              `function Client:name(...) end`;
- a resource table on the client (client.customers, client.accounts, ...):
                                 a `---@field <name> allawee.<Resource>` line in
                                 `---@class allawee.Client`, and a
                                 `---@class allawee.<Resource>` with a
                                 `local <Resource> = {}` and its functions
                                 (`function <Resource>.<fn>(...) end`); a
                                 module-level table of the same name is typed
                                 the same way in `---@class allawee`;
- an option of allawee.new / a per-call option:  `---@field` in
                                 allawee.ClientOptions / allawee.CallOptions;
- a field of err, meta or a returned customer:   `---@field` in allawee.Error,
                                 allawee.Meta, allawee.Customer.

Keep one construct per line as below (`---@class NAME`, `---@field NAME TYPE`,
`local X = {}`, `function X.name(` or `function X:name(`): the spec reads this
file with a small line parser, not with LuaLS. The OpenResty client has its
own file, types/allawee.openresty.lua.
]]

---@alias allawee.ErrorKind
---| "validation"      # the params do not match create-a-customer.md, or cannot be JSON; nothing was sent
---| "authentication"  # 401
---| "permission"      # 403
---| "not_found"       # 404
---| "conflict"        # 409, e.g. code "reference-conflict"
---| "invalid_request" # any other 4xx (400 "bad-request", ...)
---| "rate_limit"      # 429 (retried)
---| "api"             # 5xx, 3xx, or a 2xx whose envelope says code ~= "success"
---| "accepted"        # 202 "request-accepted": the service will process it later; never retried
---| "connection"      # DNS, refused, reset, TLS, truncated answer
---| "timeout"         # an attempt or the deadline ran out
---| "decode"          # a 2xx that is not the documented JSON, or bigger than max_response_bytes
---| "cancelled"       # req:cancel() on a non-blocking request

-------------------------------------------------------------------- module

---The Allawee SDK. `allawee.customers` uses a default client built on first
---use from `ALLAWEE_SECRET_KEY` and `ALLAWEE_BASE_URL`.
---@class allawee
---@field _VERSION string The SDK version, e.g. "0.1.0" (same as `version`).
---@field version string The SDK version, e.g. "0.1.0".
---@field curl_version string The libcurl version the module runs on, e.g. "7.88.1".
---@field null lightuserdata JSON `null` in requests and responses (the same value as `cjson.null`).
---@field empty_array lightuserdata A value that encodes as `[]` wherever it appears (free-form metadata too).
---@field array_mt table Tables with this metatable encode as JSON arrays, even when empty.
---@field customers allawee.Customers The customers of the default client (built from the environment).
local allawee = {}

---Builds a client. Raises for an unknown option, a wrong type, a value out
---of range, a missing key, a control character in a string option, a
---`base_url` that is not http(s), or plain `http://` off loopback.
---@param options? allawee.ClientOptions
---@return allawee.Client client
function allawee.new(options) end

---Marks `t` (or a new table) as an array, so that it encodes as `[]` when empty.
---@generic T: table
---@param t? T
---@return T
function allawee.array(t) end

---JSON text of a table, by the encoder requests use: integers exact (all 64
---bits on 5.3+; up to 2^53 as digits on 5.1/5.2/LuaJIT, where `cjson.encode`
---prints 1.2345678901235e+15), deterministic key order, `allawee.null`,
---`empty_array` and `array` honoured. Returns the text, or `nil, err` (kind
---"validation") for what JSON cannot hold (NaN, cycles, functions, ...).
---@param value table
---@return string? json
---@return allawee.Error? err
function allawee.encode(value) end

---The module-level default client itself (built from the environment on first use).
---@return allawee.Client
function allawee.default_client() end

---Starts a create on `client` and returns a future for `allawee.await`.
---Programmer errors raise here; every other outcome ends up in the future.
---@param client allawee.Client
---@param params allawee.CustomerParams
---@param options? allawee.CallOptions
---@return allawee.Future
function allawee.async(client, params, options) end

---Inside a coroutine driven by a loop that calls `client:poll`: waits until
---the future's request has finished and returns what its callback got.
---@param future allawee.Future
---@return allawee.Customer? customer
---@return allawee.Error? err
---@return allawee.Meta? meta
function allawee.await(future) end

-------------------------------------------------------------------- client

---A client: a libcurl multi handle, its connection pool and its easy
---handles, reused by every call. Belongs to one thread (one lua_State).
---`tostring(client)` shows the base URL, never the key; it closes with
---`close()`, `<close>` (Lua 5.4) or when collected. Using a closed client raises.
---@class allawee.Client
---@field customers allawee.Customers Customers, through this client.
local Client = {}

---Drives every transfer once, then runs the callbacks of what finished; if
---nothing finished, waits up to `timeout_ms` (default 0: never blocks) for
---something to. Returns how many non-blocking requests are still in flight.
---@param timeout_ms? number
---@return integer in_flight
function Client:poll(timeout_ms) end

---Polls until no non-blocking request is in flight.
function Client:wait() end

---Closes the client: transfers in flight are cancelled without running
---their callbacks, the key is wiped from memory. Idempotent.
---@return true
function Client:close() end

---`client.customers` (and `allawee.customers`).
---@class allawee.Customers
local Customers = {}

---Creates a customer (POST /customers), blocking until the outcome.
---Returns `customer, nil, meta` or `nil, err`; raises only for programmer
---errors (params not a table, a bad option, a closed client).
---@param params allawee.CustomerParams
---@param options? allawee.CallOptions
---@return allawee.Customer? customer
---@return allawee.Error? err
---@return allawee.Meta? meta
function Customers.create(params, options) end

---Starts a create without blocking; `callback` runs inside `client:poll` /
---`client:wait` with what `create` would have returned.
---@param params allawee.CustomerParams
---@param callback fun(customer: allawee.Customer?, err: allawee.Error?, meta: allawee.Meta?)
---@param options? allawee.CallOptions
---@return allawee.Request request
function Customers.create_async(params, callback, options) end

---A non-blocking request, as `create_async` returns it.
---@class allawee.Request
local Request = {}

---Stops the request if it is running or waiting to retry: its callback then
---gets `nil, err` with `err.kind == "cancelled"`. Returns false if it had
---already finished. A create the service may already have done is not undone.
---@return boolean cancelled
function Request:cancel() end

---What `allawee.async` returns, for `allawee.await`.
---@class allawee.Future
local Future = {}

---Cancels the request (see `allawee.Request.cancel`).
---@return boolean cancelled
function Future:cancel() end

------------------------------------------------------------------- options

---The options of `allawee.new`.
---@class allawee.ClientOptions
---@field secret_key? string `sk.test.…` or `sk.live.…` (default: `$ALLAWEE_SECRET_KEY`; none at all raises).
---@field base_url? string Where /customers lives (default: `$ALLAWEE_BASE_URL`, else https://api.allawee.com).
---@field timeout? number Seconds for one attempt: connect + send + receive (default 80; 0.001–86400).
---@field connect_timeout? number Seconds to establish the connection, TCP + TLS (default 30; 0.001–86400).
---@field deadline? number Seconds for the whole call: every attempt and backoff wait (default 120; 0.001–86400).
---@field max_retries? integer Further attempts after the first (default 2; 0–10).
---@field backoff_base? number Backoff base in seconds (default 0.5; 0–60).
---@field backoff_max? number Backoff cap in seconds (default 5; 0–600).
---@field max_retry_after? number Cap in seconds on a Retry-After the service asks for (default 30; 0–3600).
---@field max_response_bytes? integer A bigger answer is abandoned while it streams (default 8 MiB; 1 KiB–1 GiB).
---@field max_connections? integer Connection pool bound (default 16; 1–1024).
---@field ca_file? string PEM bundle to trust instead of the system store.
---@field proxy? string Proxy URL (default: libcurl's, which honours https_proxy etc.).
---@field user_agent? string Appended to `allawee-lua/<version> libcurl/<v> <Lua version>`.
---@field validate? boolean false: send the table as given, still encoded exactly (default true).

---Per-call options (the last argument of `create` / `create_async`).
---@class allawee.CallOptions
---@field timeout? number Overrides the client's `timeout` for this call.
---@field connect_timeout? number Overrides the client's `connect_timeout`.
---@field deadline? number Overrides the client's `deadline`.
---@field max_retries? integer Overrides the client's `max_retries`.
---@field validate? boolean Overrides the client's `validate`.
---@field idempotency_key? string The `Idempotency-Key` to send (printable ASCII, 1–255 bytes; default: a fresh UUID v4).

------------------------------------------------------------------- results

---What every call returns as its third value on success (and what a
---callback gets): the HTTP exchange behind the result.
---@class allawee.Meta
---@field status integer The HTTP status, e.g. 201.
---@field request_id? string The answer's `x-request-id`, which support will ask for.
---@field attempts integer How many attempts the call took.
---@field idempotency_key string The Idempotency-Key sent on every attempt.
---@field waits number[] The backoff waits slept between attempts, in seconds.

---A failure: `nil, err`. `tostring(err)` is one readable line.
---@class allawee.Error
---@field kind allawee.ErrorKind What happened, and what to do about it.
---@field message string What happened, readable.
---@field status? integer The HTTP status, or nil when no answer came.
---@field code? string The API's code ("reference-conflict", ...) or a client-side one ("CURLE_COULDNT_CONNECT", "invalid_params", ...).
---@field request_id? string The answer's `x-request-id`, when it had one.
---@field field? string For `validation`: the path of the offending value, e.g. "claims.individualAddress.city".
---@field body? string The raw response body (first 4 KiB).
---@field retryable boolean Whether another attempt could succeed.
---@field attempts integer Attempts made.
---@field idempotency_key? string The key this call sent.

---A customer, as the service returns it (the response's `data`).
---@class allawee.Customer
---@field id string e.g. "cus.…".
---@field object string "customer".
---@field name string
---@field reference string
---@field type "individual"|"business"|string
---@field status string e.g. "active".
---@field claims allawee.Claims
---@field verifications { type: string, status: string }[]
---@field metadata table<string, any>
---@field createdAt string ISO-8601 UTC.
---@field updatedAt string ISO-8601 UTC.

------------------------------------------------------------------ requests

---The body of `customers.create` (create-a-customer.md). With
---`validate = false` any JSON-able table is sent as given.
---@class allawee.CustomerParams
---@field name string The legal name (a business: its registration name).
---@field reference string Unique per customer: your own id, or an email.
---@field type "individual"|"business"
---@field claims allawee.Claims KYC information.
---@field verifications ("tier-1"|"tier-2"|"tier-3")[]
---@field metadata table<string, any> Free-form; `allawee.empty_array`/`allawee.array(t)` for `[]`, `allawee.null` for null.

---@class allawee.Claims
---@field individualInformation? allawee.IndividualInformation
---@field individualAddress? allawee.Address
---@field individualIdentity? allawee.Identity
---@field businessInformation? allawee.BusinessInformation
---@field businessIdentity? allawee.Identity
---@field businessDirectors? string[]
---@field businessAddress? allawee.Address

---@class allawee.IndividualInformation
---@field title? string
---@field gender? string "M" or "F".
---@field nationalityCode? string ISO 3166-1 alpha-2, e.g. "NG".
---@field firstName? string
---@field middleName? string
---@field lastName? string
---@field phoneNumber? string E.164, e.g. "+2348123456789".
---@field dateOfBirth? string
---@field email? string

---@class allawee.Address
---@field city? string
---@field state? string
---@field countryCode? string
---@field addressLineOne? string
---@field addressLineTwo? string
---@field postalCode? string

---@class allawee.Identity
---@field type? string e.g. "bvn", "cac".
---@field id? string
---@field url? string
---@field issuingCountry? string

---@class allawee.BusinessInformation
---@field registrationName? string
---@field phoneNumber? string
---@field email? string

return allawee
