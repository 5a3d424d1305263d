---@meta allawee.openresty
--[[
LuaLS annotations for `require "allawee.openresty"`, the client for code that
runs inside nginx (OpenResty, or Debian's nginx with libnginx-mod-http-lua).
It takes the options of `allawee.new`, has the same resource tables and
`client:request`, and returns what the libcurl client returns: the C engine
(validation, encoding, retries, exactly-once lookups, answers) runs through
`core.config` / `cfg:call`, only the bytes travel over cosockets. There are
no `_async` functions (use ngx.thread.spawn / ngx.timer.at). The shared
classes (allawee.ClientOptions, allawee.CallOptions, allawee.Customer,
allawee.Error, allawee.Meta, the params classes, ...) live in
types/allawee.lua. Setup and how to extend: the header of types/allawee.lua.
spec/openresty_docs_spec.lua compares this file with the module loaded in a
real nginx, both ways; spec/types_spec.lua checks each function's
`---@param` lines against the endpoint table.
]]

---@class allawee.openresty
---@field _VERSION string The SDK version.
---@field version string The SDK version.
---@field null lightuserdata JSON `null` (the same value as `cjson.null`).
---@field empty_array lightuserdata A value that encodes as `[]`.
---@field array_mt table Tables with this metatable encode as JSON arrays.
---@field webhooks allawee.Webhooks The same functions as `require("allawee").webhooks` (docs/webhooks.md).
local openresty = {}

---Builds a client: the options of `allawee.new`, except `ca_file` (set
---`lua_ssl_trusted_certificate` in nginx.conf) and `proxy` (not supported),
---which raise. Raises on bad options. Build it in `init_by_lua*`; every
---worker inherits it.
---@param options? allawee.ClientOptions
---@return allawee.openresty.Client
function openresty.new(options) end

---Marks `t` (or a new table) as an array, so that it encodes as `[]` when empty.
---@generic T: table
---@param t? T
---@return T
function openresty.array(t) end

---An OpenResty client. One serves every request and light thread of a
---worker; connections live in nginx's per-worker pools. Every call works in
---rewrite/access/content phases, ngx.timer handlers and light threads, and
---raises in phases without cosockets (init, init_worker, header/body
---filters, log, balancer).
---@class allawee.openresty.Client
---@field customers allawee.openresty.Customers
---@field accounts allawee.openresty.Accounts
---@field card_programs allawee.openresty.CardPrograms
---@field cards allawee.openresty.Cards
---@field requests allawee.openresty.Requests
local Client = {}

---Any route, as `allawee.Client.request` (the same engine and rules).
---@param method "GET"|"POST"|"PUT"|"PATCH"|"DELETE"|string
---@param path string
---@param args? allawee.RequestArgs
---@param options? allawee.CallOptions
---@return any data
---@return allawee.Error? err
---@return allawee.Meta? meta
function Client:request(method, path, args, options) end

---Marks the client closed and wipes the key; later calls raise. Idempotent.
---@return true
function Client:close() end

---@class allawee.openresty.Customers
local Customers = {}

---Creates a customer, exactly once by `reference` (see `allawee.Customers.create`).
---@param params allawee.CustomerParams
---@param options? allawee.CallOptions
---@return allawee.Customer? customer
---@return allawee.Error? err
---@return allawee.Meta? meta
function Customers.create(params, options) end

---@param id string
---@param options? allawee.CallOptions
---@return allawee.Customer? customer
---@return allawee.Error? err
---@return allawee.Meta? meta
function Customers.get(id, options) end

---@param id string
---@param params allawee.CustomerUpdate
---@param options? allawee.CallOptions
---@return allawee.Customer? customer
---@return allawee.Error? err
---@return allawee.Meta? meta
function Customers.update(id, params, options) end

---@param query? allawee.ListQuery
---@param options? allawee.CallOptions
---@return allawee.Customer[]? customers
---@return allawee.Error? err
---@return allawee.Meta? meta
function Customers.list(query, options) end

---Every customer the query matches, page by page (`allawee.paginate`).
---@param query? allawee.ListQuery
---@param options? allawee.CallOptions
---@return allawee.Iterator iterator
function Customers.each(query, options) end

---@class allawee.openresty.Accounts
local Accounts = {}

---@param params allawee.AccountParams
---@param options? allawee.CallOptions
---@return allawee.Account? account
---@return allawee.Error? err
---@return allawee.Meta? meta
function Accounts.create(params, options) end

---@param id string
---@param options? allawee.CallOptions
---@return allawee.Account? account
---@return allawee.Error? err
---@return allawee.Meta? meta
function Accounts.get(id, options) end

---@param query? allawee.ListQuery
---@param options? allawee.CallOptions
---@return allawee.Account[]? accounts
---@return allawee.Error? err
---@return allawee.Meta? meta
function Accounts.list(query, options) end

---@param query? allawee.ListQuery
---@param options? allawee.CallOptions
---@return allawee.Iterator iterator
function Accounts.each(query, options) end

---@param id string
---@param options? allawee.CallOptions
---@return allawee.Balance? balance
---@return allawee.Error? err
---@return allawee.Meta? meta
function Accounts.balance(id, options) end

---@class allawee.openresty.CardPrograms
local CardPrograms = {}

---@param params allawee.CardProgramParams
---@param options? allawee.CallOptions
---@return allawee.CardProgram? program
---@return allawee.Error? err
---@return allawee.Meta? meta
function CardPrograms.create(params, options) end

---@param id string
---@param options? allawee.CallOptions
---@return allawee.CardProgram? program
---@return allawee.Error? err
---@return allawee.Meta? meta
function CardPrograms.get(id, options) end

---@param query? allawee.ListQuery
---@param options? allawee.CallOptions
---@return allawee.CardProgram[]? programs
---@return allawee.Error? err
---@return allawee.Meta? meta
function CardPrograms.list(query, options) end

---@param query? allawee.ListQuery
---@param options? allawee.CallOptions
---@return allawee.Iterator iterator
function CardPrograms.each(query, options) end

---@param id string
---@param params allawee.CardProgramUpdate
---@param options? allawee.CallOptions
---@return allawee.CardProgram? program
---@return allawee.Error? err
---@return allawee.Meta? meta
function CardPrograms.update(id, params, options) end

---`activate`, `reset_pin` and `secrets` go to `secure_base_url`.
---@class allawee.openresty.Cards
local Cards = {}

---@param params allawee.CardParams
---@param options? allawee.CallOptions
---@return allawee.Card? card
---@return allawee.Error? err
---@return allawee.Meta? meta
function Cards.create(params, options) end

---@param id string
---@param options? allawee.CallOptions
---@return allawee.Card? card
---@return allawee.Error? err
---@return allawee.Meta? meta
function Cards.get(id, options) end

---@param query? allawee.ListQuery
---@param options? allawee.CallOptions
---@return allawee.Card[]? cards
---@return allawee.Error? err
---@return allawee.Meta? meta
function Cards.list(query, options) end

---@param query? allawee.ListQuery
---@param options? allawee.CallOptions
---@return allawee.Iterator iterator
function Cards.each(query, options) end

---@param id string
---@param params allawee.CardUpdate
---@param options? allawee.CallOptions
---@return allawee.Card? card
---@return allawee.Error? err
---@return allawee.Meta? meta
function Cards.update(id, params, options) end

---Never sent again once it may have left (money moves).
---@param id string
---@param params allawee.FundParams
---@param options? allawee.CallOptions
---@return allawee.Card|string|true|nil card
---@return allawee.Error? err
---@return allawee.Meta? meta
function Cards.fund(id, params, options) end

---@param id string
---@param options? allawee.CallOptions
---@return allawee.Card|string|true|nil card
---@return allawee.Error? err
---@return allawee.Meta? meta
function Cards.block(id, options) end

---@param id string
---@param options? allawee.CallOptions
---@return allawee.Card|string|true|nil card
---@return allawee.Error? err
---@return allawee.Meta? meta
function Cards.unblock(id, options) end

---@param id string
---@param options? allawee.CallOptions
---@return allawee.Card|string|true|nil card
---@return allawee.Error? err
---@return allawee.Meta? meta
function Cards.terminate(id, options) end

---@param id string
---@param params allawee.ActivateParams
---@param options? allawee.CallOptions
---@return allawee.Card|string|true|nil card
---@return allawee.Error? err
---@return allawee.Meta? meta
function Cards.activate(id, params, options) end

---@param id string
---@param params allawee.PinParams
---@param options? allawee.CallOptions
---@return allawee.Card|string|true|nil card
---@return allawee.Error? err
---@return allawee.Meta? meta
function Cards.reset_pin(id, params, options) end

---@param id string
---@param options? allawee.CallOptions
---@return allawee.CardSecrets? secrets
---@return allawee.Error? err
---@return allawee.Meta? meta
function Cards.secrets(id, options) end

---@class allawee.openresty.Requests
local Requests = {}

---@param id string
---@param options? allawee.CallOptions
---@return allawee.RequestStatus? request
---@return allawee.Error? err
---@return allawee.Meta? meta
function Requests.get(id, options) end

return openresty
