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
- an endpoint (a row of src/endpoints.c): its resource table's class gets
                                 `function <Resource>.<method>(...)`, its
                                 `<method>_async` twin and, for a `list`,
                                 `each`; a new resource also gets a
                                 `---@field <name> allawee.<Resource>` line in
                                 `---@class allawee.Client` and in
                                 `---@class allawee`, and its own
                                 `---@class allawee.<Resource>` followed by
                                 `local <Resource> = {}`. The `---@param`
                                 lines of each function are checked against
                                 the endpoint: one `string` per path
                                 parameter, then the body's or the query's
                                 class (every field the validator knows,
                                 and no other; `?` for what it does not
                                 require), then `callback` (_async), then
                                 `options? allawee.CallOptions`;
- an option of allawee.new / a per-call option:  `---@field` in
                                 allawee.ClientOptions / allawee.CallOptions;
- a field of err, meta or a returned object: `---@field` in allawee.Error,
                                 allawee.Meta, allawee.Customer, allawee.Card,
                                 ... (`?` when not every answer has it).

Keep one construct per line as below (`---@class NAME`, `---@field NAME TYPE`,
`local X = {}`, `function X.name(` or `function X:name(`, `---@param NAME
TYPE` right above its function): the spec reads this file with a small line
parser, not with LuaLS. The OpenResty client has its own file,
types/allawee.openresty.lua.
]]

---@alias allawee.ErrorKind
---| "validation"      # the arguments do not match the endpoint's schema or query keys, a path id is unusable, or a value cannot be JSON; nothing was sent
---| "authentication"  # 401
---| "permission"      # 403
---| "not_found"       # 404; also err.cause of an exactly-once lookup that found nothing
---| "conflict"        # 409, e.g. code "reference-conflict"
---| "invalid_request" # any other 4xx (400 "bad-request", ...)
---| "rate_limit"      # 429 (retried)
---| "api"             # 5xx, 3xx, or a 2xx whose envelope says code ~= "success"
---| "accepted"        # 202 "request-accepted": the service will process it later (client.requests.get); never sent again
---| "connection"      # DNS, refused, reset, TLS, no or a truncated answer
---| "timeout"         # an attempt or the deadline ran out
---| "decode"          # a 2xx the route cannot use (not JSON, not the documented shape, empty where an object is due), or bigger than max_response_bytes
---| "cancelled"       # req:cancel() on a non-blocking request, or the client closed during the call
---| "signature"       # webhooks.parse: the Allawee-Signature header is missing, malformed or does not match

---@alias allawee.FilterOp "EQ"|"NEQ"|"LIKE"|"IN"|"NIN"|"eq"|"neq"|"like"|"in"|"nin"

---A list filter: the documented string `"key||OP||value"`, or `{ key, op, value }`
---(also `{ key = , op = , value = }`), checked and joined by the SDK. For IN and
---NIN the value may be a list (`{ "status", "IN", { "active", "blocked" } }`). No
---part may hold "||" (and no list item a ",").
---@alias allawee.Filter string|{ [1]: string, [2]: allawee.FilterOp, [3]: string|number|boolean|(string|number)[] }|{ key: string, op: allawee.FilterOp, value: string|number|boolean|(string|number)[] }

---@alias allawee.Callback fun(data: any, err: allawee.Error?, meta: allawee.Meta?)
---@alias allawee.CustomerCallback fun(customer: allawee.Customer?, err: allawee.Error?, meta: allawee.Meta?)
---@alias allawee.CustomerListCallback fun(customers: allawee.Customer[]?, err: allawee.Error?, meta: allawee.Meta?)
---@alias allawee.AccountCallback fun(account: allawee.Account?, err: allawee.Error?, meta: allawee.Meta?)
---@alias allawee.AccountListCallback fun(accounts: allawee.Account[]?, err: allawee.Error?, meta: allawee.Meta?)
---@alias allawee.BalanceCallback fun(balance: allawee.Balance?, err: allawee.Error?, meta: allawee.Meta?)
---@alias allawee.CardProgramCallback fun(program: allawee.CardProgram?, err: allawee.Error?, meta: allawee.Meta?)
---@alias allawee.CardProgramListCallback fun(programs: allawee.CardProgram[]?, err: allawee.Error?, meta: allawee.Meta?)
---@alias allawee.CardCallback fun(card: allawee.Card?, err: allawee.Error?, meta: allawee.Meta?)
---@alias allawee.CardActionCallback fun(card: allawee.Card|string|true|nil, err: allawee.Error?, meta: allawee.Meta?)
---@alias allawee.CardListCallback fun(cards: allawee.Card[]?, err: allawee.Error?, meta: allawee.Meta?)
---@alias allawee.CardSecretsCallback fun(secrets: allawee.CardSecrets?, err: allawee.Error?, meta: allawee.Meta?)
---@alias allawee.RequestStatusCallback fun(request: allawee.RequestStatus?, err: allawee.Error?, meta: allawee.Meta?)

---What `each` returns: call it (or use it in a generic `for`) for the next
---item. A failure comes once as `false, err`, then the iteration ends.
---@alias allawee.Iterator fun(): (any|false|nil), allawee.Error?

-------------------------------------------------------------------- module

---The Allawee SDK. The resource tables at module level (`allawee.customers`,
---`allawee.cards`, ...) call the same functions on a default client built on
---first use from `ALLAWEE_SECRET_KEY` and `ALLAWEE_BASE_URL`.
---@class allawee
---@field _VERSION string The SDK version, e.g. "0.1.0" (same as `version`).
---@field version string The SDK version, e.g. "0.1.0".
---@field curl_version string The libcurl version the module runs on, e.g. "7.88.1".
---@field null lightuserdata JSON `null` in requests and responses (the same value as `cjson.null`).
---@field empty_array lightuserdata A value that encodes as `[]` wherever it appears (free-form metadata too).
---@field array_mt table Tables with this metatable encode as JSON arrays, even when empty.
---@field customers allawee.Customers Customers, through the default client.
---@field accounts allawee.Accounts Accounts, through the default client.
---@field card_programs allawee.CardPrograms Card programs, through the default client.
---@field cards allawee.Cards Cards, through the default client.
---@field requests allawee.Requests GRP request statuses, through the default client.
---@field webhooks allawee.Webhooks Checks and decodes the calls Allawee makes to your server (docs/webhooks.md).
local allawee = {}

---Builds a client. Raises for an unknown option, a wrong type, a value out
---of range, a missing key, a control character in a string option, a
---`base_url`/`secure_base_url` that is not http(s), or plain `http://` off loopback.
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

---Builds an `each` from any `list(query, options)` function (what the
---resource tables' `each` is; allawee.openresty uses it too). Pages are
---fetched only as the loop needs them, from `query.page` (default 0) on;
---the loop ends when `meta.has_more` is false, a page is empty, or
---`meta.pagination.count` items were seen. The caller's query is not modified.
---@param list fun(query: table, options?: allawee.CallOptions): (table[]?, allawee.Error?, allawee.Meta?)
---@return fun(query?: allawee.ListQuery, options?: allawee.CallOptions): allawee.Iterator each
function allawee.paginate(list) end

---The module-level default client itself (built from the environment on first use).
---@return allawee.Client
function allawee.default_client() end

---Starts a `customers.create` on `client` and returns a future for
---`allawee.await`. Programmer errors raise here; every other outcome ends up
---in the future.
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
---`close()`, `<close>` (Lua 5.4) or when collected. Using a closed client
---raises. The resource tables are built on first use from the endpoint
---table (`require("allawee.core").endpoints()`).
---@class allawee.Client
---@field customers allawee.Customers Customers (create, get, update, list).
---@field accounts allawee.Accounts Accounts (create, get, list, balance).
---@field card_programs allawee.CardPrograms Card programs (create, get, list, update).
---@field cards allawee.Cards Cards (create ... terminate; activate, reset_pin, secrets on the secure host).
---@field requests allawee.Requests The status of a 202-accepted request (GRP).
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

---Any route, with the same engine as the resource tables: `method` is GET,
---POST, PUT, PATCH or DELETE (any case); `path` starts with "/" and holds no
---"//", "..", "?" or control character (else kind "validation", nothing
---sent). An enveloped answer gives its `data`; a bare JSON value is
---tolerated; a non-JSON 2xx gives the body string and `meta.content_type`;
---an empty 2xx gives `true`. GET, PUT and DELETE are retried on connection
---errors, timeouts, 429 and 5xx; a POST or PATCH only when it never left (or
---429), unless `args.idempotent`.
---@param method "GET"|"POST"|"PUT"|"PATCH"|"DELETE"|string
---@param path string
---@param args? allawee.RequestArgs
---@param options? allawee.CallOptions
---@return any data
---@return allawee.Error? err
---@return allawee.Meta? meta
function Client:request(method, path, args, options) end

---`client:request` without blocking: `callback` runs inside `client:poll` /
---`client:wait` with what `request` would have returned.
---@param method "GET"|"POST"|"PUT"|"PATCH"|"DELETE"|string
---@param path string
---@param args allawee.RequestArgs|nil
---@param callback allawee.Callback
---@param options? allawee.CallOptions
---@return allawee.Request request
function Client:request_async(method, path, args, callback, options) end

---The third argument of `client:request`. Any other key raises.
---@class allawee.RequestArgs
---@field query? table<string, string|number|boolean|(string|number|boolean)[]> Query parameters: keys sorted, RFC 3986 encoded, an array repeats its key. Not checked against any list.
---@field body? table|string A table is encoded as JSON (exactly, unvalidated); a string is sent as it is. Not with GET.
---@field secure? boolean Send to `secure_base_url` (card secrets) instead of `base_url`; the error of such a call never keeps the answer's body.
---@field idempotent? boolean A POST or PATCH that is safe to repeat: retried like a PUT.

------------------------------------------------------------ resources

---Customers: `client.customers` and `allawee.customers`.
---@class allawee.Customers
local Customers = {}

---Creates a customer (POST /customers). Exactly once: every attempt sends
---the same `reference`; when an earlier attempt may have created it and a
---retry gets 409 `reference-conflict`, the customer is looked up by
---reference and returned with `meta.recovered = true`. If that cannot be
---settled, the conflict comes back with `err.ambiguous = true` and the
---lookup's failure in `err.cause`.
---@param params allawee.CustomerParams
---@param options? allawee.CallOptions
---@return allawee.Customer? customer
---@return allawee.Error? err
---@return allawee.Meta? meta
function Customers.create(params, options) end

---`create` without blocking; `callback` runs inside `client:poll` / `client:wait`.
---@param params allawee.CustomerParams
---@param callback allawee.CustomerCallback
---@param options? allawee.CallOptions
---@return allawee.Request request
function Customers.create_async(params, callback, options) end

---GET /customers/:id.
---@param id string
---@param options? allawee.CallOptions
---@return allawee.Customer? customer
---@return allawee.Error? err
---@return allawee.Meta? meta
function Customers.get(id, options) end

---@param id string
---@param callback allawee.CustomerCallback
---@param options? allawee.CallOptions
---@return allawee.Request request
function Customers.get_async(id, callback, options) end

---PUT /customers/:id: the create's fields, every one optional; each field
---given replaces the stored one.
---@param id string
---@param params allawee.CustomerUpdate
---@param options? allawee.CallOptions
---@return allawee.Customer? customer
---@return allawee.Error? err
---@return allawee.Meta? meta
function Customers.update(id, params, options) end

---@param id string
---@param params allawee.CustomerUpdate
---@param callback allawee.CustomerCallback
---@param options? allawee.CallOptions
---@return allawee.Request request
function Customers.update_async(id, params, callback, options) end

---GET /customers: one page (an array) and `meta.has_more`, `meta.page`,
---`meta.pagination` where the answer has them.
---@param query? allawee.ListQuery
---@param options? allawee.CallOptions
---@return allawee.Customer[]? customers
---@return allawee.Error? err
---@return allawee.Meta? meta
function Customers.list(query, options) end

---`list_async(callback)` reads as `list_async(nil, callback)`.
---@param query allawee.ListQuery|nil
---@param callback allawee.CustomerListCallback
---@param options? allawee.CallOptions
---@return allawee.Request request
function Customers.list_async(query, callback, options) end

---Every customer the query matches, page by page, fetched as the loop asks
---(`for customer, err in client.customers.each{ limit = 50 } do`).
---@param query? allawee.ListQuery
---@param options? allawee.CallOptions
---@return allawee.Iterator iterator
function Customers.each(query, options) end

---Accounts: `client.accounts` and `allawee.accounts`.
---@class allawee.Accounts
local Accounts = {}

---Creates an account (POST /accounts). With a `reference` it is exactly
---once like `customers.create`; without one it is never sent again once it
---may have left (send one).
---@param params allawee.AccountParams
---@param options? allawee.CallOptions
---@return allawee.Account? account
---@return allawee.Error? err
---@return allawee.Meta? meta
function Accounts.create(params, options) end

---@param params allawee.AccountParams
---@param callback allawee.AccountCallback
---@param options? allawee.CallOptions
---@return allawee.Request request
function Accounts.create_async(params, callback, options) end

---GET /accounts/:id.
---@param id string
---@param options? allawee.CallOptions
---@return allawee.Account? account
---@return allawee.Error? err
---@return allawee.Meta? meta
function Accounts.get(id, options) end

---@param id string
---@param callback allawee.AccountCallback
---@param options? allawee.CallOptions
---@return allawee.Request request
function Accounts.get_async(id, callback, options) end

---GET /accounts: one page.
---@param query? allawee.ListQuery
---@param options? allawee.CallOptions
---@return allawee.Account[]? accounts
---@return allawee.Error? err
---@return allawee.Meta? meta
function Accounts.list(query, options) end

---@param query allawee.ListQuery|nil
---@param callback allawee.AccountListCallback
---@param options? allawee.CallOptions
---@return allawee.Request request
function Accounts.list_async(query, callback, options) end

---Every account the query matches, page by page.
---@param query? allawee.ListQuery
---@param options? allawee.CallOptions
---@return allawee.Iterator iterator
function Accounts.each(query, options) end

---GET /accounts/:id/balance.
---@param id string
---@param options? allawee.CallOptions
---@return allawee.Balance? balance
---@return allawee.Error? err
---@return allawee.Meta? meta
function Accounts.balance(id, options) end

---@param id string
---@param callback allawee.BalanceCallback
---@param options? allawee.CallOptions
---@return allawee.Request request
function Accounts.balance_async(id, callback, options) end

---Card programs: `client.card_programs` and `allawee.card_programs`.
---@class allawee.CardPrograms
local CardPrograms = {}

---Creates a card program (POST /card-programs). Nothing documented
---deduplicates it: never sent again once it may have left (a 429 and a
---connection that was never made are retried); an unknown outcome is
---`err.ambiguous`.
---@param params allawee.CardProgramParams
---@param options? allawee.CallOptions
---@return allawee.CardProgram? program
---@return allawee.Error? err
---@return allawee.Meta? meta
function CardPrograms.create(params, options) end

---@param params allawee.CardProgramParams
---@param callback allawee.CardProgramCallback
---@param options? allawee.CallOptions
---@return allawee.Request request
function CardPrograms.create_async(params, callback, options) end

---GET /card-programs/:id.
---@param id string
---@param options? allawee.CallOptions
---@return allawee.CardProgram? program
---@return allawee.Error? err
---@return allawee.Meta? meta
function CardPrograms.get(id, options) end

---@param id string
---@param callback allawee.CardProgramCallback
---@param options? allawee.CallOptions
---@return allawee.Request request
function CardPrograms.get_async(id, callback, options) end

---GET /card-programs: one page.
---@param query? allawee.ListQuery
---@param options? allawee.CallOptions
---@return allawee.CardProgram[]? programs
---@return allawee.Error? err
---@return allawee.Meta? meta
function CardPrograms.list(query, options) end

---@param query allawee.ListQuery|nil
---@param callback allawee.CardProgramListCallback
---@param options? allawee.CallOptions
---@return allawee.Request request
function CardPrograms.list_async(query, callback, options) end

---Every card program the query matches, page by page.
---@param query? allawee.ListQuery
---@param options? allawee.CallOptions
---@return allawee.Iterator iterator
function CardPrograms.each(query, options) end

---PUT /card-programs/:id: the create's fields, every one optional. The
---service refuses it once the program is live.
---@param id string
---@param params allawee.CardProgramUpdate
---@param options? allawee.CallOptions
---@return allawee.CardProgram? program
---@return allawee.Error? err
---@return allawee.Meta? meta
function CardPrograms.update(id, params, options) end

---@param id string
---@param params allawee.CardProgramUpdate
---@param callback allawee.CardProgramCallback
---@param options? allawee.CallOptions
---@return allawee.Request request
function CardPrograms.update_async(id, params, callback, options) end

---Cards: `client.cards` and `allawee.cards`. `activate`, `reset_pin` and
---`secrets` go to `secure_base_url`; their errors never keep the answer's body.
---@class allawee.Cards
local Cards = {}

---Issues a card (POST /cards). Exactly once by `reference`, like
---`customers.create` (`meta.recovered`, `err.ambiguous`, `err.cause`).
---@param params allawee.CardParams
---@param options? allawee.CallOptions
---@return allawee.Card? card
---@return allawee.Error? err
---@return allawee.Meta? meta
function Cards.create(params, options) end

---@param params allawee.CardParams
---@param callback allawee.CardCallback
---@param options? allawee.CallOptions
---@return allawee.Request request
function Cards.create_async(params, callback, options) end

---GET /cards/:id.
---@param id string
---@param options? allawee.CallOptions
---@return allawee.Card? card
---@return allawee.Error? err
---@return allawee.Meta? meta
function Cards.get(id, options) end

---@param id string
---@param callback allawee.CardCallback
---@param options? allawee.CallOptions
---@return allawee.Request request
function Cards.get_async(id, callback, options) end

---GET /cards: one page.
---@param query? allawee.ListQuery
---@param options? allawee.CallOptions
---@return allawee.Card[]? cards
---@return allawee.Error? err
---@return allawee.Meta? meta
function Cards.list(query, options) end

---@param query allawee.ListQuery|nil
---@param callback allawee.CardListCallback
---@param options? allawee.CallOptions
---@return allawee.Request request
function Cards.list_async(query, callback, options) end

---Every card the query matches, page by page.
---@param query? allawee.ListQuery
---@param options? allawee.CallOptions
---@return allawee.Iterator iterator
function Cards.each(query, options) end

---PUT /cards/:id: `controls` and/or `metadata`, each replaced whole.
---@param id string
---@param params allawee.CardUpdate
---@param options? allawee.CallOptions
---@return allawee.Card? card
---@return allawee.Error? err
---@return allawee.Meta? meta
function Cards.update(id, params, options) end

---@param id string
---@param params allawee.CardUpdate
---@param callback allawee.CardCallback
---@param options? allawee.CallOptions
---@return allawee.Request request
function Cards.update_async(id, params, callback, options) end

---POST /cards/:id/fund: money moves and nothing deduplicates it, so it is
---never sent again once it may have left; an unknown outcome is
---`err.ambiguous` (look at the card before funding again). The answer is
---read as it comes: the card, a body string, or `true` for an empty one.
---@param id string
---@param params allawee.FundParams
---@param options? allawee.CallOptions
---@return allawee.Card|string|true|nil card
---@return allawee.Error? err
---@return allawee.Meta? meta
function Cards.fund(id, params, options) end

---@param id string
---@param params allawee.FundParams
---@param callback allawee.CardActionCallback
---@param options? allawee.CallOptions
---@return allawee.Request request
function Cards.fund_async(id, params, callback, options) end

---POST /cards/:id/block (no body). Safe to repeat: retried like a PUT.
---@param id string
---@param options? allawee.CallOptions
---@return allawee.Card|string|true|nil card
---@return allawee.Error? err
---@return allawee.Meta? meta
function Cards.block(id, options) end

---@param id string
---@param callback allawee.CardActionCallback
---@param options? allawee.CallOptions
---@return allawee.Request request
function Cards.block_async(id, callback, options) end

---POST /cards/:id/unblock (no body). Safe to repeat: retried like a PUT.
---@param id string
---@param options? allawee.CallOptions
---@return allawee.Card|string|true|nil card
---@return allawee.Error? err
---@return allawee.Meta? meta
function Cards.unblock(id, options) end

---@param id string
---@param callback allawee.CardActionCallback
---@param options? allawee.CallOptions
---@return allawee.Request request
function Cards.unblock_async(id, callback, options) end

---DELETE /cards/:id: terminates the card, permanently.
---@param id string
---@param options? allawee.CallOptions
---@return allawee.Card|string|true|nil card
---@return allawee.Error? err
---@return allawee.Meta? meta
function Cards.terminate(id, options) end

---@param id string
---@param callback allawee.CardActionCallback
---@param options? allawee.CallOptions
---@return allawee.Request request
function Cards.terminate_async(id, callback, options) end

---POST /cards/:id/activate on the secure host, with the card's CVV and the
---chosen PIN. Never sent again once it may have left. The body (CVV, PIN) is
---wiped from memory and never appears in an error.
---@param id string
---@param params allawee.ActivateParams
---@param options? allawee.CallOptions
---@return allawee.Card|string|true|nil card
---@return allawee.Error? err
---@return allawee.Meta? meta
function Cards.activate(id, params, options) end

---@param id string
---@param params allawee.ActivateParams
---@param callback allawee.CardActionCallback
---@param options? allawee.CallOptions
---@return allawee.Request request
function Cards.activate_async(id, params, callback, options) end

---POST /cards/:id/reset-pin on the secure host. Safe to repeat (the same PIN).
---@param id string
---@param params allawee.PinParams
---@param options? allawee.CallOptions
---@return allawee.Card|string|true|nil card
---@return allawee.Error? err
---@return allawee.Meta? meta
function Cards.reset_pin(id, params, options) end

---@param id string
---@param params allawee.PinParams
---@param callback allawee.CardActionCallback
---@param options? allawee.CallOptions
---@return allawee.Request request
function Cards.reset_pin_async(id, params, callback, options) end

---GET /cards/:id/secrets on the secure host: the PAN, CVV and expiry. Keep
---them out of logs; the SDK keeps them out of its errors.
---@param id string
---@param options? allawee.CallOptions
---@return allawee.CardSecrets? secrets
---@return allawee.Error? err
---@return allawee.Meta? meta
function Cards.secrets(id, options) end

---@param id string
---@param callback allawee.CardSecretsCallback
---@param options? allawee.CallOptions
---@return allawee.Request request
function Cards.secrets_async(id, callback, options) end

---Guaranteed Request Processing: `client.requests` and `allawee.requests`.
---@class allawee.Requests
local Requests = {}

---GET /requests/:id: the status of a request the service answered with 202
---(kind "accepted"; its id is `err.request_id`). The answer is not enveloped.
---@param id string
---@param options? allawee.CallOptions
---@return allawee.RequestStatus? request
---@return allawee.Error? err
---@return allawee.Meta? meta
function Requests.get(id, options) end

---@param id string
---@param callback allawee.RequestStatusCallback
---@param options? allawee.CallOptions
---@return allawee.Request request
function Requests.get_async(id, callback, options) end

---`allawee.webhooks` (also `require("allawee.openresty").webhooks`): plain
---functions on strings, no client, no HTTP (docs/webhooks.md).
---@class allawee.Webhooks
local Webhooks = {}

---Checks `Allawee-Signature` (hex HMAC-SHA512 of the raw body under the
---signing key), in constant time. Returns true, or false, a one-line reason
---and a code (signature_missing, signature_malformed, signature_mismatch).
---Raises for a body or key that is not a string and for an empty key.
---@param body string
---@param header string|nil
---@param key string
---@return boolean ok
---@return string? why
---@return string? code
function Webhooks.verify(body, header, key) end

---`verify`, then the body decoded like an API answer. Returns the event, or
---`nil, err` (kind "signature" or "decode"; no `err.body`).
---@param body string
---@param header string|nil
---@param key string
---@return allawee.WebhookEvent? event
---@return allawee.Error? err
function Webhooks.parse(body, header, key) end

---The lowercase hex HMAC-SHA512 of `body` under `key` (for tests).
---@param body string
---@param key string
---@return string signature
function Webhooks.sign(body, key) end

---Checks and encodes the answer to a `card.authorization.request`; with a
---`request` that is a check (the event, its data, or "check"), `cardBalance`
---is required. Returns the JSON text, or `nil, err` (kind "validation",
---code "invalid_reply").
---@param reply allawee.AuthorizationReply
---@param request? allawee.WebhookEvent|table|"check"|"capture"
---@return string? json
---@return allawee.Error? err
function Webhooks.authorization_reply(reply, request) end

---A non-blocking request, as the `_async` functions return it.
---@class allawee.Request
local Request = {}

---Stops the request if it is running or waiting to retry: its callback then
---gets `nil, err` with `err.kind == "cancelled"`. Returns false if it had
---already finished. A request the service may already have done is not undone.
---@return boolean cancelled
function Request:cancel() end

---What `allawee.async` returns, for `allawee.await`.
---@class allawee.Future
---@field done boolean Whether the outcome is in.
---@field request allawee.Request The request behind it.
---@field data? allawee.Customer Once done: the customer, on success.
---@field err? allawee.Error Once done: the error, on failure.
---@field meta? allawee.Meta Once done: meta, on success.
local Future = {}

---Cancels the request (see `allawee.Request.cancel`).
---@return boolean cancelled
function Future:cancel() end

------------------------------------------------------------------- options

---The options of `allawee.new`.
---@class allawee.ClientOptions
---@field secret_key? string `sk.test.…` or `sk.live.…` (default: `$ALLAWEE_SECRET_KEY`; none at all raises).
---@field base_url? string Where /customers lives (default: `$ALLAWEE_BASE_URL`, else https://api.allawee.com).
---@field secure_base_url? string The secure host, for cards.activate/reset_pin/secrets (default: `$ALLAWEE_SECURE_BASE_URL`, else `base_url` when that is loopback, else https://secure.allawee.com).
---@field timeout? number Seconds for one attempt: connect + send + receive (default 80; 0.001–86400).
---@field connect_timeout? number Seconds to establish the connection, TCP + TLS (default 30; 0.001–86400).
---@field deadline? number Seconds for the whole call: every attempt, lookup and backoff wait (default 120; 0.001–86400).
---@field max_retries? integer Further sends after the first, libcurl's own resends included (default 2; 0–10).
---@field backoff_base? number Backoff base in seconds (default 0.5; 0–60).
---@field backoff_max? number Backoff cap in seconds (default 5; 0–600).
---@field max_retry_after? number Cap in seconds on a Retry-After the service asks for (default 30; 0–3600).
---@field max_response_bytes? integer A bigger answer is abandoned while it streams (default 8 MiB; 1 KiB–1 GiB).
---@field max_connections? integer Connection pool bound (default 16; 1–1024).
---@field ca_file? string PEM bundle to trust instead of the system store.
---@field proxy? string Proxy URL (default: libcurl's, which honours https_proxy etc.).
---@field user_agent? string Appended to `allawee-lua/<version> libcurl/<v> <Lua version>`.
---@field validate? boolean false: send bodies and queries as given, still encoded exactly (default true).

---Per-call options (the last argument of every call).
---@class allawee.CallOptions
---@field timeout? number Overrides the client's `timeout` for this call.
---@field connect_timeout? number Overrides the client's `connect_timeout`.
---@field deadline? number Overrides the client's `deadline`.
---@field max_retries? integer Overrides the client's `max_retries`.
---@field validate? boolean Overrides the client's `validate`.
---@field idempotency_key? string The `Idempotency-Key` to send (printable ASCII, 1–255 bytes, no outer spaces; default: a fresh UUID v4 for every call that is not a GET).

------------------------------------------------------------------- results

---What every call returns as its third value on success (and what a
---callback gets): the HTTP exchange behind the result.
---@class allawee.Meta
---@field status integer The HTTP status of the last answer, e.g. 201 (200 for a recovered create: the lookup's).
---@field request_id? string The answer's `x-request-id`, which support will ask for.
---@field attempts integer Every send the call made: retries, libcurl's own resends on a dead connection, exactly-once lookups.
---@field idempotency_key? string The Idempotency-Key sent on every attempt (calls that are not a GET).
---@field waits number[] The backoff waits slept between attempts, in seconds.
---@field content_type? string A non-JSON 2xx (CSV, ...): its Content-Type; the data is the body string.
---@field has_more? boolean Lists: the answer's `metadata.hasMore`.
---@field page? number Lists: the `page` the query asked for.
---@field pagination? allawee.Pagination Lists: the answer's `pagination` object, where it has one.
---@field recovered? boolean true: an exactly-once create whose earlier attempt had done it; the object was found by its reference.

---@class allawee.Pagination
---@field lastId? string The id of the page's last item.
---@field limit? integer
---@field count? integer The number of all matching items.

---A failure: `nil, err`. `tostring(err)` is one readable line.
---@class allawee.Error
---@field kind allawee.ErrorKind What happened, and what to do about it.
---@field message string What happened, readable.
---@field status? integer The HTTP status, or nil when no answer came.
---@field code? string The API's code ("reference-conflict", ...) or a client-side one ("CURLE_COULDNT_CONNECT", "invalid_params", "unexpected_body", ...).
---@field request_id? string The answer's `x-request-id`, when it had one (for kind "accepted": the id for `requests.get`).
---@field field? string For `validation`: the path of the offending value, e.g. "claims.individualAddress.city", "query.limit", "id".
---@field body? string The raw response body (first 4 KiB); never for secure-host calls or webhooks.
---@field retryable boolean Whether the failure is of a kind another attempt could fix (the call's retry class decides whether one was made).
---@field ambiguous boolean true: a send of this call may have been processed (no answer, a 5xx, a timeout after sending): look before doing it again.
---@field attempts integer Every send made (see `allawee.Meta.attempts`).
---@field idempotency_key? string The key this call sent.
---@field cause? allawee.Error An exactly-once lookup that did not settle a conflict: why (kind "not_found" when nothing was found).

---A customer, as the service returns it (the response's `data`).
---@class allawee.Customer
---@field id string e.g. "cus.…".
---@field object string "customer".
---@field name string
---@field reference? string Not in the docs' samples; the sandbox returns it.
---@field type "individual"|"business"|"corporate"|string
---@field status string e.g. "active".
---@field claims allawee.Claims
---@field verifications allawee.Verification[]
---@field metadata table<string, any>
---@field createdAt string ISO-8601 UTC.
---@field updatedAt string ISO-8601 UTC.

---@class allawee.Verification
---@field type string "tier-1", "tier-2", "tier-3".
---@field status string e.g. "verified".

---An account (POST /accounts, GET /accounts/:id).
---@class allawee.Account
---@field id string e.g. "ac.…".
---@field object string "account".
---@field name string
---@field type "main"|"sub"|"virtual"|string
---@field status string e.g. "active".
---@field currency "NGN"|"USD"|string
---@field reference? string
---@field customer? string The customer's id, when it has one.
---@field settlementAccount? string
---@field depositChannels allawee.DepositChannel[]
---@field metadata table<string, any>
---@field createdAt string
---@field updatedAt string

---@class allawee.DepositChannel
---@field type string "bank-account".
---@field accountName string
---@field accountNumber string
---@field bankName string
---@field bankCode string
---@field partner string
---@field createdAt? string
---@field updatedAt? string

---GET /accounts/:id/balance. The docs show no sample: these are the
---sandbox's fields.
---@class allawee.Balance
---@field object string "account.balance".
---@field account string The account's id.
---@field currency string
---@field available integer Minor units (kobo, cents).
---@field ledger integer Minor units.

---A card program.
---@class allawee.CardProgram
---@field id string e.g. "c.prg.…".
---@field object string "card.program".
---@field name string
---@field description? string
---@field network "verve"|"mastercard"|string
---@field type "virtual"|"physical"|string
---@field quantity? integer
---@field currency "NGN"|"USD"|string
---@field distribution? allawee.CardProgramDistribution
---@field personalization? allawee.CardProgramPersonalization
---@field authorization allawee.CardProgramAuthorization
---@field status string "new" or "live" (virtual programs are live at once).
---@field metadata table<string, any>
---@field createdAt string
---@field updatedAt string

---@class allawee.CardProgramDistribution
---@field type? "individually"|"bulked"
---@field shippingAddress? table
---@field returnAddress? table

---@class allawee.CardProgramPersonalization
---@field frontArtworkFile? string
---@field printCardholderName? boolean
---@field defaultCardholderName? string

---@class allawee.CardProgramAuthorization
---@field fundingSourceType? "card-account"|"settlement-account"
---@field settlementAccount? string
---@field transactionFee? number
---@field webhook? string
---@field timeoutDefault? "approve"|"decline"

---A card. It never holds the PAN or the CVV (`cards.secrets` does).
---@class allawee.Card
---@field id string e.g. "c.…".
---@field object string "card".
---@field type string From the program: "virtual" or "physical".
---@field network string From the program.
---@field status string "inactive", "active", "blocked" or "terminated".
---@field currency string
---@field program string The program's id.
---@field customer string The customer's id.
---@field reference string
---@field details allawee.CardDetails
---@field balance? integer The sandbox's: minor units issued and funded.
---@field controls allawee.CardControls
---@field fundingSource? string
---@field metadata table<string, any>
---@field createdAt string
---@field updatedAt string

---@class allawee.CardDetails
---@field last4 string
---@field expiry string e.g. "12/31".
---@field cardHolderName string

---Spending controls (free-form for the SDK: sent as given). Once one of
---`allowedChannels`, `blockedChannels`, `spendingLimits` is sent, all three are.
---@class allawee.CardControls
---@field allowedMcc? string[]
---@field blockedMcc? string[]
---@field allowedCategories? string[]
---@field blockedCategories? string[]
---@field allowedChannels? string[]
---@field blockedChannels? string[]
---@field allowedMerchants? string[]
---@field blockedMerchants? string[]
---@field spendingLimits? allawee.SpendingLimit[]

---@class allawee.SpendingLimit
---@field amount integer Minor units.
---@field interval string e.g. "daily".

---GET /cards/:id/secrets (secure host). Secrets: never log them.
---@class allawee.CardSecrets
---@field cardHolderName string
---@field last4 string
---@field pan string
---@field expiry string
---@field cvv string

---GET /requests/:id: a 202-accepted request (not enveloped).
---@class allawee.RequestStatus
---@field _id string The request id (the 202's `x-request-id`).
---@field status "pending"|"completed"|"cancelled"|string
---@field path string
---@field method string
---@field attempts allawee.RequestAttempt[]
---@field createdAt string
---@field updatedAt string

---@class allawee.RequestAttempt
---@field statusCode integer
---@field latency number Milliseconds.
---@field responseBody any The decoded answer of that attempt.
---@field createdAt string

---A webhook event, as `webhooks.parse` returns it (the body as it came).
---@class allawee.WebhookEvent
---@field event string e.g. "card.authorization.request".
---@field data table The object (authorization, transaction, request, ...).
---@field metadata? allawee.WebhookMetadata

---@class allawee.WebhookMetadata
---@field sentAt? string
---@field event? string The delivery's id ("evt.…").

------------------------------------------------------------------ requests

---The body of `customers.create`. Required: name, reference, type (the
---newer reference; create-a-customer.md also marks claims, verifications and
---metadata required, the service does not). With `validate = false` any
---JSON-able table is sent as given.
---@class allawee.CustomerParams
---@field name string The legal name (a business: its registration name).
---@field reference string Unique per customer: your own id, or an email. Also what makes the create exactly-once.
---@field type "individual"|"business"|"corporate"
---@field claims? allawee.Claims KYC information.
---@field verifications? ("tier-1"|"tier-2"|"tier-3")[]
---@field metadata? table<string, any> Free-form; `allawee.empty_array`/`allawee.array(t)` for `[]`, `allawee.null` for null.

---The body of `customers.update`: the create's fields, every one optional.
---@class allawee.CustomerUpdate
---@field name? string
---@field reference? string
---@field type? "individual"|"business"|"corporate"
---@field claims? allawee.Claims
---@field verifications? ("tier-1"|"tier-2"|"tier-3")[]
---@field metadata? table<string, any>

---@class allawee.Claims
---@field individualInformation? allawee.IndividualInformation
---@field individualAddress? allawee.Address
---@field individualIdentity? allawee.Identity
---@field businessInformation? allawee.BusinessInformation
---@field businessIdentity? allawee.Identity
---@field businessDirectors? string[]
---@field businessAddress? allawee.Address

---String fields; each may also be `allawee.null`.
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

---The body of `accounts.create`.
---@class allawee.AccountParams
---@field name string
---@field currency "NGN"|"USD"
---@field type "main"|"sub"|"virtual" Virtual accounts cannot hold value.
---@field settlementAccount? string For a virtual account.
---@field reference? string Send one: it makes the create exactly-once (without it, never sent twice).
---@field customer? string A customer's id.
---@field depositChannels? any[] e.g. `{ "bank-account" }`.
---@field metadata? table<string, any>

---The body of `card_programs.create`.
---@class allawee.CardProgramParams
---@field name string Unique among your programs.
---@field network "verve"|"mastercard"
---@field type "virtual"|"physical"
---@field currency "NGN"|"USD"
---@field description? string
---@field quantity? integer Physical programs.
---@field distribution? allawee.CardProgramDistribution Free-form for the SDK.
---@field personalization? allawee.CardProgramPersonalization Free-form for the SDK.
---@field authorization? allawee.CardProgramAuthorization Free-form for the SDK.
---@field metadata? table<string, any>

---The body of `card_programs.update`: the create's fields, every one optional.
---@class allawee.CardProgramUpdate
---@field name? string
---@field network? "verve"|"mastercard"
---@field type? "virtual"|"physical"
---@field currency? "NGN"|"USD"
---@field description? string
---@field quantity? integer
---@field distribution? allawee.CardProgramDistribution
---@field personalization? allawee.CardProgramPersonalization
---@field authorization? allawee.CardProgramAuthorization
---@field metadata? table<string, any>

---The body of `cards.create`.
---@class allawee.CardParams
---@field program string A live program's id.
---@field amount integer The initial balance, in minor units (a whole number >= 0).
---@field fxHash? string Marked required in one table of the docs, left out of every sample.
---@field reference string Unique per card; what makes the create exactly-once.
---@field customer string The customer's id.
---@field cardHolderName? string
---@field debitSource? string An account id (default: the main account).
---@field fundingSource? string
---@field debitCurrency? string "NGN" or "USD".
---@field controls? allawee.CardControls Free-form for the SDK.
---@field metadata? table<string, any>

---The body of `cards.update`.
---@class allawee.CardUpdate
---@field controls? allawee.CardControls Replaces the stored controls whole.
---@field metadata? table<string, any> Replaces the stored metadata whole.

---The body of `cards.fund`.
---@class allawee.FundParams
---@field amount integer Minor units, a whole number >= 0.
---@field debitSource? string An account id.
---@field debitCurrency? string
---@field fxHash? string When the debit source and the card have different currencies.

---The body of `cards.activate` (secure host).
---@class allawee.ActivateParams
---@field cvv string The card's CVV (`cards.secrets`).
---@field pin string The chosen PIN, e.g. "4826".

---The body of `cards.reset_pin` (secure host).
---@class allawee.PinParams
---@field pin string

---The query of a `list` (and of `each`). Keys sorted, RFC 3986 encoded; an
---unknown key is a validation error unless `validate = false`.
---@class allawee.ListQuery
---@field filter? allawee.Filter
---@field sort? string "field" ascending, "-field" descending.
---@field select? string|string[] Fields to keep (an array repeats the key).
---@field expand? string|string[]
---@field page? integer The first page is 0 (whole numbers >= 0).
---@field limit? integer Items per page (whole numbers >= 0).
---@field after? string Cursor: the items after this id.
---@field before? string Cursor: the items before this id.

---The answer to a `card.authorization.request` (`webhooks.authorization_reply`).
---@class allawee.AuthorizationReply
---@field action "approve"|"decline"
---@field code? "account-not-found"|"account-inactive"|"insufficient-funds"|"invalid-transaction"|"duplicate-transaction"|"spending-control"
---@field cardBalance? integer Minor units; required when answering a check.
---@field cardHolderName? string
---@field metadata? table<string, any>

return allawee
