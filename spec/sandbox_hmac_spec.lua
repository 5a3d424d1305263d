-- The sandbox's own SHA-512 / HMAC-SHA512 (allawee/sandbox/sha512.lua), which
-- signs its webhooks: published vectors and openssl. Needs Lua 5.3+; on older
-- Luas the module must refuse clearly (and the webhook spec shows the 501).
-- Run: busted --lua=lua5.4 --run=5.4 spec/sandbox_hmac_spec.lua
local net = require "support.net"

local HAS_INT64 = math.type ~= nil and math.maxinteger == 9223372036854775807

local function hexbytes(n, byte) return string.rep(string.char(byte), n) end

-- openssl's HMAC-SHA512 of data under key (key given as hex, so any byte works).
local function openssl_hmac(key, data)
  local dir = net.temp_dir("hmac")
  local path = dir .. "/data"
  net.write_file(path, data)
  local keyhex = key:gsub(".", function(c) return string.format("%02x", c:byte()) end)
  local out, code = net.capture(("openssl dgst -sha512 -mac HMAC -macopt hexkey:%s %s"):format(keyhex,
    net.shell_quote(path)))
  net.remove_temp_dir(dir)
  assert(code == 0, out)
  return (out:match("= (%x+)%s*$"))
end

describe("sandbox SHA-512 and HMAC-SHA512", function()
  if not HAS_INT64 then
    it("refuses to load on " .. (jit and jit.version or _VERSION) .. ", saying it needs Lua 5.3+", function()
      package.loaded["allawee.sandbox.sha512"] = nil
      local ok, err = pcall(require, "allawee.sandbox.sha512")
      assert.is_false(ok)
      assert.truthy(tostring(err):find("needs Lua 5.3 or later", 1, true), tostring(err))
    end)
    return
  end

  local sha = require "allawee.sandbox.sha512"

  it("hashes the FIPS 180-4 examples", function()
    assert.equals("ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
      .. "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f", sha.sha512_hex("abc"))
    assert.equals("cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
      .. "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e", sha.sha512_hex(""))
    assert.equals("8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018"
      .. "501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909",
      sha.sha512_hex("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopq"
        .. "klmnopqrlmnopqrsmnopqrstnopqrstu"))
    assert.equals(64, #sha.sha512("abc"))
  end)

  it("matches sha512sum at every length around the block and padding edges", function()
    for _, n in ipairs({ 1, 55, 111, 112, 113, 127, 128, 129, 239, 240, 255, 256, 1000 }) do
      local data = string.rep("q", n)
      local dir = net.temp_dir("hmac")
      net.write_file(dir .. "/d", data)
      local out = net.capture("sha512sum " .. net.shell_quote(dir .. "/d"))
      net.remove_temp_dir(dir)
      assert.equals(out:match("^(%x+)"), sha.sha512_hex(data), "length " .. n)
    end
  end)

  -- RFC 4231, section 4: test cases 1 to 7.
  local RFC4231 = {
    { hexbytes(20, 0x0b), "Hi There",
      "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde"
      .. "daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854" },
    { "Jefe", "what do ya want for nothing?",
      "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
      .. "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737" },
    { hexbytes(20, 0xaa), hexbytes(50, 0xdd),
      "fa73b0089d56a284efb0f0756c890be9b1b5dbdd8ee81a3655f83e33b2279d39"
      .. "bf3e848279a722c806b485a47e67c807b946a337bee8942674278859e13292fb" },
    { "\1\2\3\4\5\6\7\8\9\10\11\12\13\14\15\16\17\18\19\20\21\22\23\24\25", hexbytes(50, 0xcd),
      "b0ba465637458c6990e5a8c5f61d4af7e576d97ff94b872de76f8050361ee3db"
      .. "a91ca5c11aa25eb4d679275cc5788063a5f19741120c4f2de2adebeb10a298dd" },
    { hexbytes(20, 0x0c), "Test With Truncation", "415fad6271580a531d4179bc891d87a6", truncated = true },
    { hexbytes(131, 0xaa), "Test Using Larger Than Block-Size Key - Hash Key First",
      "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f352"
      .. "6b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598" },
    { hexbytes(131, 0xaa), "This is a test using a larger than block-size key and a larger than block-size data. "
      .. "The key needs to be hashed before being used by the HMAC algorithm.",
      "e37b6a775dc87dbaa4dfa9f96e5e3ffddebd71f8867289865df5a32d20cdc944"
      .. "b6022cac3c4982b10d5eeb55c3e4de15134676fb6de0446065c97440fa8c6a58" },
  }

  for i, case in ipairs(RFC4231) do
    it("passes RFC 4231 test case " .. i, function()
      local got = sha.hmac_sha512_hex(case[1], case[2])
      if case.truncated then got = got:sub(1, 32) end
      assert.equals(case[3], got)
    end)
  end

  it("agrees with openssl dgst -sha512 -hmac on keys and bodies of many sizes", function()
    local checked = 0
    for _, klen in ipairs({ 1, 64, 127, 128, 129, 300 }) do
      for _, dlen in ipairs({ 0, 1, 111, 112, 128, 5000 }) do
        local key, data = {}, {}
        for j = 1, klen do key[j] = string.char((j * 37 + klen) % 256) end
        for j = 1, dlen do data[j] = string.char((j * 11 + dlen) % 256) end
        key, data = table.concat(key), table.concat(data)
        assert.equals(openssl_hmac(key, data), sha.hmac_sha512_hex(key, data), klen .. "/" .. dlen)
        checked = checked + 1
      end
    end
    assert.equals(36, checked)
    -- openssl takes no empty key; the value is Python's hmac.new(b"", b"", sha512)
    assert.equals("b936cee86c9f87aa5d3c6f2e84cb5a4239a5fe50480a6ec66b70ab5b1f4ac6730c6c515421b327ec1d6940"
      .. "2e53dfb49ad7381eb067b338fd7b0cb22247225d47", sha.hmac_sha512_hex("", ""))
  end)

  it("agrees with openssl's -hmac <key> form on a webhook-like body", function()
    local key, body = "whsec-sandbox-key", '{"event":"card.authorization.request","data":{"amount":5000}}'
    local dir = net.temp_dir("hmac")
    net.write_file(dir .. "/body", body)
    local out = net.capture(("openssl dgst -sha512 -hmac %s %s"):format(net.shell_quote(key),
      net.shell_quote(dir .. "/body")))
    net.remove_temp_dir(dir)
    assert.equals(out:match("= (%x+)%s*$"), sha.hmac_sha512_hex(key, body))
  end)

  it("refuses a non-string", function()
    assert.has_error(function() sha.sha512(5) end)
    assert.has_error(function() sha.hmac_sha512(nil, "x") end)
  end)
end)
