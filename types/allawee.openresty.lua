---@meta allawee.openresty
--[[
LuaLS annotations for `require "allawee.openresty"`, the client for code that
runs inside nginx (OpenResty, or Debian's nginx with libnginx-mod-http-lua).
It takes the options of `allawee.new` and returns what the libcurl client
returns; the shared classes (allawee.ClientOptions, allawee.Customer,
allawee.Error, allawee.Meta, ...) live in types/allawee.lua. Setup and how
to extend: the header of types/allawee.lua. spec/openresty_docs_spec.lua
compares this file with the module loaded in a real nginx, both ways.
]]

---@class allawee.openresty
---@field _VERSION string The SDK version.
---@field version string The SDK version.
---@field null lightuserdata JSON `null` (the same value as `cjson.null`).
---@field empty_array lightuserdata A value that encodes as `[]`.
---@field array_mt table Tables with this metatable encode as JSON arrays.
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
---worker; connections live in nginx's per-worker pools.
---@class allawee.openresty.Client
---@field customers allawee.openresty.Customers
local Client = {}

---Marks the client closed; later creates raise. Idempotent.
---@return true
function Client:close() end

---@class allawee.openresty.Customers
local Customers = {}

---Creates a customer over nginx cosockets. Works in rewrite/access/content
---phases, ngx.timer handlers and light threads; raises in phases without
---cosockets (init, init_worker, header/body filters, log, balancer).
---@param params allawee.CustomerParams
---@param options? allawee.CallOptions
---@return allawee.Customer? customer
---@return allawee.Error? err
---@return allawee.Meta? meta
function Customers.create(params, options) end

return openresty
