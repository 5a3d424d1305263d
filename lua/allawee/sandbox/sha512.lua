--[[
allawee.sandbox.sha512: SHA-512 and HMAC-SHA512 in pure Lua (the code is in
allawee/sandbox/sha512_53.lua).

    local sha = require "allawee.sandbox.sha512"
    sha.sha512(msg), sha.sha512_hex(msg)                  -- 64 raw bytes / 128 hex digits
    sha.hmac_sha512(key, msg), sha.hmac_sha512_hex(key, msg)

It needs Lua 5.3 or later with 64-bit integers; on Lua 5.1, 5.2 and LuaJIT
requiring it raises an error that says so (the code itself would not even
parse there).
]]

if not (math.type and math.maxinteger == 9223372036854775807) then
  error("allawee.sandbox.sha512 needs Lua 5.3 or later with 64-bit integers; this is "
    .. (jit and jit.version or _VERSION), 2)
end

return require "allawee.sandbox.sha512_53"
