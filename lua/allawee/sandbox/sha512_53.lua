--[[
allawee.sandbox.sha512_53: SHA-512 (FIPS 180-4) and HMAC-SHA512 (RFC 2104) in
pure Lua, for the webhooks the sandbox signs.

    local sha = require "allawee.sandbox.sha512"
    sha.sha512(msg)            --> 64 raw bytes
    sha.sha512_hex(msg)        --> 128 lowercase hex digits
    sha.hmac_sha512(key, msg)  --> 64 raw bytes
    sha.hmac_sha512_hex(key, msg)

Needs Lua 5.3 or later with 64-bit integers: the bitwise operators below
are a syntax error in Lua 5.1, 5.2 and LuaJIT, so require
allawee.sandbox.sha512, which checks the Lua first and says so. Independent of the SDK's C code on
purpose: the sandbox's signatures cross-check the SDK's verifier.
]]

local M = {}

local K = {
  0x428a2f98d728ae22, 0x7137449123ef65cd, 0xb5c0fbcfec4d3b2f, 0xe9b5dba58189dbbc,
  0x3956c25bf348b538, 0x59f111f1b605d019, 0x923f82a4af194f9b, 0xab1c5ed5da6d8118,
  0xd807aa98a3030242, 0x12835b0145706fbe, 0x243185be4ee4b28c, 0x550c7dc3d5ffb4e2,
  0x72be5d74f27b896f, 0x80deb1fe3b1696b1, 0x9bdc06a725c71235, 0xc19bf174cf692694,
  0xe49b69c19ef14ad2, 0xefbe4786384f25e3, 0x0fc19dc68b8cd5b5, 0x240ca1cc77ac9c65,
  0x2de92c6f592b0275, 0x4a7484aa6ea6e483, 0x5cb0a9dcbd41fbd4, 0x76f988da831153b5,
  0x983e5152ee66dfab, 0xa831c66d2db43210, 0xb00327c898fb213f, 0xbf597fc7beef0ee4,
  0xc6e00bf33da88fc2, 0xd5a79147930aa725, 0x06ca6351e003826f, 0x142929670a0e6e70,
  0x27b70a8546d22ffc, 0x2e1b21385c26c926, 0x4d2c6dfc5ac42aed, 0x53380d139d95b3df,
  0x650a73548baf63de, 0x766a0abb3c77b2a8, 0x81c2c92e47edaee6, 0x92722c851482353b,
  0xa2bfe8a14cf10364, 0xa81a664bbc423001, 0xc24b8b70d0f89791, 0xc76c51a30654be30,
  0xd192e819d6ef5218, 0xd69906245565a910, 0xf40e35855771202a, 0x106aa07032bbd1b8,
  0x19a4c116b8d2d0c8, 0x1e376c085141ab53, 0x2748774cdf8eeb99, 0x34b0bcb5e19b48a8,
  0x391c0cb3c5c95a63, 0x4ed8aa4ae3418acb, 0x5b9cca4f7763e373, 0x682e6ff3d6b2b8a3,
  0x748f82ee5defb2fc, 0x78a5636f43172f60, 0x84c87814a1f0ab72, 0x8cc702081a6439ec,
  0x90befffa23631e28, 0xa4506cebde82bde9, 0xbef9a3f7b2c67915, 0xc67178f2e372532b,
  0xca273eceea26619c, 0xd186b8c721c0c207, 0xeada7dd6cde0eb1e, 0xf57d4f7fee6ed178,
  0x06f067aa72176fba, 0x0a637dc5a2c898a6, 0x113f9804bef90dae, 0x1b710b35131c471b,
  0x28db77f523047d84, 0x32caab7b40c72493, 0x3c9ebe0a15c9bebc, 0x431d67c49c100d4c,
  0x4cc5d4becb3e42b6, 0x597f299cfc657e2a, 0x5fcb6fab3ad6faec, 0x6c44198c4a475817,
}

local H0 = {
  0x6a09e667f3bcc908, 0xbb67ae8584caa73b, 0x3c6ef372fe94f82b, 0xa54ff53a5f1d36f1,
  0x510e527fade682d1, 0x9b05688c2b3e6c1f, 0x1f83d9abfb41bd6b, 0x5be0cd19137e2179,
}

local spack, sunpack, srep, sbyte, schar = string.pack, string.unpack, string.rep, string.byte, string.char
local BLOCK_FORMAT = ">" .. srep("i8", 16)

local function rotr(x, n) return (x >> n) | (x << (64 - n)) end

-- One 128-byte block at `pos` of msg into the state h (integer additions
-- wrap modulo 2^64, as SHA-512 wants).
local function compress(h, msg, pos, w)
  local words = { sunpack(BLOCK_FORMAT, msg, pos) }
  for i = 1, 16 do w[i] = words[i] end
  for i = 17, 80 do
    local a, b = w[i - 15], w[i - 2]
    local s0 = rotr(a, 1) ~ rotr(a, 8) ~ (a >> 7)
    local s1 = rotr(b, 19) ~ rotr(b, 61) ~ (b >> 6)
    w[i] = w[i - 16] + s0 + w[i - 7] + s1
  end
  local a, b, c, d, e, f, g, hh = h[1], h[2], h[3], h[4], h[5], h[6], h[7], h[8]
  for i = 1, 80 do
    local S1 = rotr(e, 14) ~ rotr(e, 18) ~ rotr(e, 41)
    local ch = (e & f) ~ (~e & g)
    local t1 = hh + S1 + ch + K[i] + w[i]
    local S0 = rotr(a, 28) ~ rotr(a, 34) ~ rotr(a, 39)
    local maj = (a & b) ~ (a & c) ~ (b & c)
    local t2 = S0 + maj
    hh, g, f, e, d, c, b, a = g, f, e, d + t1, c, b, a, t1 + t2
  end
  h[1], h[2], h[3], h[4] = h[1] + a, h[2] + b, h[3] + c, h[4] + d
  h[5], h[6], h[7], h[8] = h[5] + e, h[6] + f, h[7] + g, h[8] + hh
end

function M.sha512(msg)
  assert(type(msg) == "string", "sha512: a string expected")
  local len = #msg
  -- 0x80, zeros up to 112 mod 128, then the length in bits (128 bits, big-endian)
  local pad = 128 - ((len + 17) % 128)
  if pad == 128 then pad = 0 end
  local padded = msg .. "\128" .. srep("\0", pad) .. spack(">I8I8", len >> 61, len << 3)
  local h = { table.unpack(H0) }
  local w = {}
  for pos = 1, #padded, 128 do compress(h, padded, pos, w) end
  return spack(">i8i8i8i8i8i8i8i8", h[1], h[2], h[3], h[4], h[5], h[6], h[7], h[8])
end

local function hex(bytes)
  return (bytes:gsub(".", function(c) return string.format("%02x", sbyte(c)) end))
end
M.hex = hex

function M.sha512_hex(msg) return hex(M.sha512(msg)) end

local function xor_with(key, byte)
  local out = {}
  for i = 1, #key do out[i] = schar(sbyte(key, i) ~ byte) end
  return table.concat(out)
end

function M.hmac_sha512(key, msg)
  assert(type(key) == "string" and type(msg) == "string", "hmac_sha512: strings expected")
  if #key > 128 then key = M.sha512(key) end
  key = key .. srep("\0", 128 - #key)
  return M.sha512(xor_with(key, 0x5c) .. M.sha512(xor_with(key, 0x36) .. msg))
end

function M.hmac_sha512_hex(key, msg) return hex(M.hmac_sha512(key, msg)) end

return M
