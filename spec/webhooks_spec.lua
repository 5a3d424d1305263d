--[[
allawee.webhooks (src/webhooks.c, src/sha512.c, docs/webhooks.md):

  - SHA-512 (src/sha512.c, through spec/support/sha512_cli.c built with
    ASan+UBSan) against FIPS 180-4's examples, fed in pieces of many sizes;
  - HMAC-SHA-512 (allawee.webhooks.sign) against RFC 4231 test cases 1-7;
  - both against `openssl` for random bodies of every length 0..300 (block
    boundaries 111/112/127/128/239/240 included) and keys of 1..300 bytes,
    NUL bytes included;
  - verify, parse, authorization_reply, sign: every rule both ways, the
    programmer errors, hostile inputs, and that no key, expected signature
    or body ever shows in what they return.
]]
local allawee = require "allawee"
local net = require "support.net"
local json = require("cjson").new()   -- private: never touch the shared cjson settings

local W = allawee.webhooks
-- Named like the suite's API keys, so that tools/test-summary's check of
-- every log for "sk.test.*canary" also catches a signing key printed.
local KEY = "sk.test.canary-webhook-signing-7c1e"
local HAS_INTEGERS = math.type ~= nil
local LUAJIT = type(jit) == "table"
local repo = net.repo_root()
local q = net.shell_quote

local function hex(s)
  return (s:gsub(".", function(c) return ("%02x"):format(c:byte()) end))
end

local function unhex(h)
  return (h:gsub("%x%x", function(x) return string.char(tonumber(x, 16)) end))
end

local random_file = assert(io.open("/dev/urandom", "rb"))
local function random_bytes(n) return n > 0 and random_file:read(n) or "" end

-- The sample event: the envelope of catalogue B.3, an authorization of
-- type check, the largest exact float integer (2^53 - 1) in the metadata.
local EVENT = '{"event":"card.authorization.request","data":{"id":"c.auth.64f1c0ffee",' ..
  '"object":"card.authorization","type":"check","status":"pending","amount":150000,' ..
  '"fees":0,"currency":"NGN","card":"c.64f1beef","merchantDescriptor":"CHICKEN REPUBLIC",' ..
  '"metadata":{"userId":2345,"ledger":9007199254740991}},' ..
  '"metadata":{"sentAt":"2024-10-16T10:00:00.000Z","event":"evt.64f1a2b3c4"}}'

local function signed(body, key) return body, W.sign(body, key or KEY), key or KEY end

-- Raises with the standard message, exactly.
local function raises(pattern, f, ...)
  local ok, msg = pcall(f, ...)
  assert.is_false(ok, "expected an error matching " .. pattern)
  assert.truthy(tostring(msg):find(pattern, 1, true),
                "expected '" .. pattern .. "' in: " .. tostring(msg))
end

---------------------------------------------------------------------------
-- The C code on its own, and openssl as the reference
---------------------------------------------------------------------------

local tmp, cli

local function build_cli()
  tmp = net.temp_dir("webhooks")
  cli = tmp .. "/sha512_cli"
  local base = ("cc -std=c99 -Wall -Wextra -Werror -pedantic -O1 -g -I%s/src %s/spec/support/sha512_cli.c " ..
                "%s/src/sha512.c -o %s"):format(q(repo), q(repo), q(repo), q(cli))
  -- With the sanitizers when the compiler has them (UBSan: shifts, alignment).
  local _, code = net.capture(base .. " -fsanitize=address,undefined -fno-sanitize-recover=all")
  if code ~= 0 then net.run(base) end
end

local function file_with(name, data)
  local path = tmp .. "/" .. name
  net.write_file(path, data)
  return path
end

-- Runs cmd, returns its output lines; fails on a non-zero exit.
local function lines_of(cmd)
  local out, code = net.capture(cmd)
  assert.are.equal(0, code, out)
  local t = {}
  for line in out:gmatch("[^\n]+") do t[#t + 1] = line end
  return t
end

local function c_sha512(data, chunk)
  local path = file_with("in", data)
  return lines_of(("%s sha512 %d < %s"):format(q(cli), chunk or 4096, q(path)))[1]
end

describe("allawee.webhooks", function()
  setup(build_cli)
  teardown(function()
    random_file:close()
    net.remove_temp_dir(tmp)
  end)

  describe("SHA-512 (src/sha512.c) against FIPS 180-4 / NIST examples", function()
    local vectors = {
      { "", "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce" ..
            "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e" },
      { "abc", "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a" ..
               "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f" },
      { "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",       -- 448 bits
        "204a8fc6dda82f0a0ced7beb8e08a41657c16ef468b228a8279be331a703c335" ..
        "96fd15c13b1b07f9aa1d3bea57789ca031ad85c7a71dd70354ec631238ca3445" },
      { "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno" ..
        "ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",                -- 896 bits, two blocks
        "8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018" ..
        "501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909" },
      { string.rep("a", 1000000),                                          -- one million 'a'
        "e718483d0ce769644e2e42c7bc15b4638e1f98b13b2044285632a803afa973eb" ..
        "de0ff244877ea60a4cb0432ce577c31beb009c5c2c49aa2e4eadb217ad8cc09b" },
    }
    for _, v in ipairs(vectors) do
      local name = #v[1] > 60 and (#v[1] .. " bytes") or ("%q"):format(v[1])
      it(name .. ", fed in pieces of 1, 7, 111, 127, 128, 129 and 4096 bytes", function()
        for _, chunk in ipairs{ 1, 7, 111, 127, 128, 129, 4096 } do
          if chunk >= 7 or #v[1] < 2000 then   -- a million 1-byte updates: skipped, 7 is enough
            assert.are.equal(v[2], c_sha512(v[1], chunk), "chunk " .. chunk)
          end
        end
      end)
    end
  end)

  describe("HMAC-SHA-512 (sign) against RFC 4231", function()
    local aa131 = string.rep("\170", 131)
    local cases = {
      { 1, string.rep("\11", 20), "Hi There",
        "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde" ..
        "daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854" },
      { 2, "Jefe", "what do ya want for nothing?",
        "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554" ..
        "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737" },
      { 3, string.rep("\170", 20), string.rep("\221", 50),
        "fa73b0089d56a284efb0f0756c890be9b1b5dbdd8ee81a3655f83e33b2279d39" ..
        "bf3e848279a722c806b485a47e67c807b946a337bee8942674278859e13292fb" },
      { 4, unhex("0102030405060708090a0b0c0d0e0f10111213141516171819"), string.rep("\205", 50),
        "b0ba465637458c6990e5a8c5f61d4af7e576d97ff94b872de76f8050361ee3db" ..
        "a91ca5c11aa25eb4d679275cc5788063a5f19741120c4f2de2adebeb10a298dd" },
      { 5, string.rep("\12", 20), "Test With Truncation",
        "415fad6271580a531d4179bc891d87a6", truncated = true },            -- first 128 bits
      { 6, aa131, "Test Using Larger Than Block-Size Key - Hash Key First",   -- key hashed first
        "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f352" ..
        "6b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598" },
      { 7, aa131, "This is a test using a larger than block-size key and a larger " ..
        "than block-size data. The key needs to be hashed before being used by the HMAC algorithm.",
        "e37b6a775dc87dbaa4dfa9f96e5e3ffddebd71f8867289865df5a32d20cdc944" ..
        "b6022cac3c4982b10d5eeb55c3e4de15134676fb6de0446065c97440fa8c6a58" },
    }
    for _, c in ipairs(cases) do
      it("test case " .. c[1] .. (c.truncated and " (truncated to 128 bits)" or ""), function()
        local sig = W.sign(c[3], c[2])
        assert.are.equal(128, #sig)
        assert.truthy(sig:match("^[0-9a-f]+$"))
        if c.truncated then
          assert.are.equal(c[4], sig:sub(1, 32))
        else
          assert.are.equal(c[4], sig)
          assert.is_true(W.verify(c[3], c[4], c[2]))
        end
        -- the C code alone gives the same
        local path = file_with("in", c[3])
        assert.are.equal(sig, lines_of(("%s hmac %s < %s"):format(q(cli), hex(c[2]), q(path)))[1])
      end)
    end
  end)

  describe("against openssl", function()
    it("random bodies of 0..300 bytes and keys of 1..300 bytes (NUL bytes too)", function()
      -- Keys around the block size (128: longer ones are hashed first) and
      -- others; each key signs a share of the bodies, so one openssl
      -- process per key (dgst takes many files) checks them all.
      local key_lengths = { 1, 2, 3, 16, 32, 63, 64, 65, 100, 111, 112, 127, 128, 129, 130,
                            200, 255, 256, 257, 300 }
      local lengths = {}
      for n = 0, 300 do lengths[#lengths + 1] = n end
      for _, n in ipairs{ 111, 112, 127, 128, 239, 240, 255, 256 } do   -- boundaries again
        lengths[#lengths + 1] = n
      end
      local keys, files_of_key, cases, all_files = {}, {}, {}, {}
      for k, len in ipairs(key_lengths) do keys[k], files_of_key[k] = random_bytes(len), {} end
      for i, n in ipairs(lengths) do
        local k = i % #keys + 1
        local path = file_with("b" .. i, random_bytes(n))
        cases[i] = { path = path, key = k, body = assert(net.read_file(path)) }
        table.insert(files_of_key[k], q(path))
        all_files[i] = q(path)
      end
      local script = {}
      for k = 1, #keys do
        script[k] = ("openssl dgst -sha512 -mac HMAC -macopt hexkey:%s -r %s")
          :format(hex(keys[k]), table.concat(files_of_key[k], " "))
      end
      script[#script + 1] = "openssl dgst -sha512 -r " .. table.concat(all_files, " ")
      -- the C code alone, fed in pieces of 1, 13 and 127 bytes
      for _, chunk in ipairs{ 1, 13, 127 } do
        script[#script + 1] = ("%s sha512 %d %s"):format(q(cli), chunk, table.concat(all_files, " "))
      end
      local out = lines_of("sh " .. q(file_with("check.sh", table.concat(script, "\n"))))
      local hmac_of, sha_of, c_sha = {}, {}, {}
      local line = 0
      for k = 1, #keys do
        for _, path in ipairs(files_of_key[k]) do
          line = line + 1
          hmac_of[path] = out[line]:match("^(%x+)")
        end
      end
      for i = 1, #cases do sha_of[i] = out[line + i]:match("^(%x+)") end
      line = line + #cases
      for _ = 1, 3 do
        for i = 1, #cases do c_sha[#c_sha + 1] = { i, out[line + i] } end
        line = line + #cases
      end
      assert.are.equal(line, #out)
      for _, c in ipairs(c_sha) do
        assert.are.equal(sha_of[c[1]], c[2], "SHA-512 of " .. hex(cases[c[1]].body))
      end
      for i, c in ipairs(cases) do
        local sig = W.sign(c.body, keys[c.key])
        assert.are.equal(hmac_of[q(c.path)], sig,
                         ("HMAC, body %s, key %s"):format(hex(c.body), hex(keys[c.key])))
        assert.is_true(W.verify(c.body, sig, keys[c.key]), "case " .. i)
      end
    end)

    it("a 10 MiB body, bodies with NUL bytes, a key with NUL bytes", function()
      local big = string.rep(random_bytes(1024), 10 * 1024)
      local cases = {
        { big, KEY },
        { "a\0b\0\0c", KEY },
        { ('{"event":"x"}\0'):rep(3), KEY },
        { "body", "ab\0cd" },
        { "body", "\0" },
        { "body", string.rep("\0", 200) },
        { "body", random_bytes(10000) },
      }
      local script = {}
      for i, c in ipairs(cases) do
        script[i] = ("openssl mac -digest SHA512 -macopt hexkey:%s -in %s HMAC")
          :format(hex(c[2]), q(file_with("n" .. i, c[1])))
      end
      local out = lines_of("sh " .. q(file_with("nul.sh", table.concat(script, "\n"))))
      for i, c in ipairs(cases) do
        assert.are.equal(out[i]:lower(), W.sign(c[1], c[2]), "case " .. i)
        assert.is_true(W.verify(c[1], out[i], c[2]))
      end
      -- A key is bytes: nothing stops at a NUL.
      assert.are_not.equal(W.sign("body", "ab\0cd"), W.sign("body", "ab"))
      -- ... though HMAC pads a short key with zeros (RFC 2104), so trailing
      -- NULs of a key under 128 bytes change nothing, here as in openssl.
      assert.are.equal(W.sign("body", "\0"), W.sign("body", "\0\0"))
      assert.are.equal(W.sign("body", "ab"), W.sign("body", "ab\0"))
      assert.are_not.equal(W.sign("a\0b", KEY), W.sign("a", KEY))
      assert.is_false((W.verify("body", W.sign("body", "ab"), "ab\0cd")))
    end)
  end)

  describe("the constant-time comparison (ax_equal_ct, via the C helper)", function()
    it("equal only when every byte is, wherever the difference is", function()
      local a = hex(random_bytes(64))
      local function equal(x, y) return lines_of(("%s equal %s %s"):format(q(cli), x, y))[1] end
      assert.are.equal("1", equal(a, a))
      for _, pos in ipairs{ 1, 2, 32, 63, 64 } do
        for _, bit in ipairs{ 1, 128 } do
          local bytes = unhex(a)
          local flipped = bytes:sub(1, pos - 1) ..
            string.char((bytes:byte(pos) + bit) % 256) .. bytes:sub(pos + 1)
          assert.are.equal("0", equal(a, hex(flipped)), "byte " .. pos)
        end
      end
    end)
  end)

  ---------------------------------------------------------------------------
  -- verify
  ---------------------------------------------------------------------------

  describe("verify", function()
    local body, sig = signed(EVENT)

    it("accepts the signature in lower, upper and mixed case", function()
      assert.is_true(W.verify(body, sig, KEY))
      assert.is_true(W.verify(body, sig:upper(), KEY))
      local mixed = sig:gsub("()(%x)", function(i, c) return i % 2 == 0 and c:upper() or c end)
      assert.are_not.equal(sig, mixed)
      assert.is_true(W.verify(body, mixed, KEY))
    end)

    it("trims spaces and tabs around the header (HTTP's OWS), nothing else", function()
      assert.is_true(W.verify(body, "  " .. sig .. "\t ", KEY))
      assert.is_true(W.verify(body, "\t" .. sig, KEY))
      for _, h in ipairs{ sig .. "\r\n", "\n" .. sig, sig .. "\0", sig:sub(1, 64) .. " " .. sig:sub(65) } do
        local ok, why, code = W.verify(body, h, KEY)
        assert.is_false(ok)
        assert.are.equal("signature_malformed", code)
        assert.is_string(why)
      end
    end)

    it("refuses a body with one byte changed, wherever it is", function()
      for _, pos in ipairs{ 1, 2, 10, math.floor(#body / 2), #body - 1, #body } do
        local b = body:sub(1, pos - 1) .. string.char((body:byte(pos) + 1) % 256) .. body:sub(pos + 1)
        local ok, why, code = W.verify(b, sig, KEY)
        assert.is_false(ok, "byte " .. pos)
        assert.are.equal("signature_mismatch", code)
        assert.truthy(why:find("does not match", 1, true))
      end
      assert.is_false((W.verify(body .. " ", sig, KEY)))
      assert.is_false((W.verify(body:sub(1, -2), sig, KEY)))
      assert.is_false((W.verify("", sig, KEY)))
    end)

    it("refuses a signature made with another key", function()
      for _, k in ipairs{ KEY .. "x", KEY:sub(1, -2), KEY:upper(), "x" .. KEY, "other" } do
        local ok, _, code = W.verify(body, sig, k)
        assert.is_false(ok)
        assert.are.equal("signature_mismatch", code)
      end
      assert.is_false((W.verify(body, W.sign(body, "other"), KEY)))
    end)

    it("refuses a signature with one hex digit changed, wherever it is", function()
      for _, pos in ipairs{ 1, 2, 64, 65, 127, 128 } do
        local c = sig:sub(pos, pos)
        local other = c == "0" and "1" or "0"
        local ok, _, code = W.verify(body, sig:sub(1, pos - 1) .. other .. sig:sub(pos + 1), KEY)
        assert.is_false(ok, "digit " .. pos)
        assert.are.equal("signature_mismatch", code)
      end
    end)

    it("refuses a header that is not 128 hex digits: truncated, too long, not hex", function()
      local cases = {
        sig:sub(1, 127), sig:sub(1, 126), sig:sub(1, 64), sig:sub(1, 1), sig .. "0", sig .. sig,
        sig:sub(1, 127) .. "g", "g" .. sig:sub(2), sig:sub(1, 63) .. "-" .. sig:sub(65),
        "0x" .. sig:sub(3), "sha512=" .. sig, string.rep("z", 128), string.rep("\255", 128),
        sig:sub(1, 64) .. "\0" .. sig:sub(66),
      }
      for i, h in ipairs(cases) do
        local ok, why, code = W.verify(body, h, KEY)
        assert.is_false(ok, "case " .. i)
        assert.are.equal("signature_malformed", code, "case " .. i)
        assert.truthy(why:find("Allawee-Signature header is not 128 hex digits", 1, true), why)
      end
      local _, why = W.verify(body, sig:sub(1, 100), KEY)
      assert.truthy(why:find("(100 bytes)", 1, true), why)
    end)

    it("refuses a missing or empty header (nil, nothing, \"\", blanks)", function()
      for _, h in ipairs{ "", "   ", "\t" } do
        local ok, why, code = W.verify(body, h, KEY)
        assert.is_false(ok)
        assert.are.equal("signature_missing", code)
        assert.truthy(why:find("Allawee-Signature", 1, true))
      end
      local ok, why, code = W.verify(body, nil, KEY)
      assert.is_false(ok)
      assert.are.equal("signature_missing", code)
      assert.are.equal("no Allawee-Signature header", why)
    end)

    it("refuses a header that is not a string, as a refusal, not an error", function()
      local ok, why, code = W.verify(body, { sig, sig }, KEY)   -- ngx: a repeated header
      assert.is_false(ok)
      assert.are.equal("signature_malformed", code)
      assert.truthy(why:find("more than once", 1, true))
      for _, h in ipairs{ 42, true, function() end } do
        ok, why, code = W.verify(body, h, KEY)
        assert.is_false(ok)
        assert.are.equal("signature_malformed", code)
        assert.truthy(why:find("not a string", 1, true))
      end
    end)

    it("raises for programmer errors in the standard form", function()
      raises("bad argument #1 to 'verify' (string expected, got nil)", W.verify, nil, sig, KEY)
      raises("bad argument #1 to 'verify' (string expected, got table)", W.verify, {}, sig, KEY)
      raises("bad argument #1 to 'verify' (string expected, got number)", W.verify, 12, sig, KEY)
      raises("bad argument #3 to 'verify' (string expected, got nil)", W.verify, body, sig, nil)
      raises("bad argument #3 to 'verify' (string expected, got no value)", W.verify, body, sig)
      raises("bad argument #3 to 'verify' (the signing key is empty)", W.verify, body, sig, "")
      -- the key is checked even when the header is missing
      raises("bad argument #3 to 'verify' (string expected, got nil)", W.verify, body, nil, nil)
      raises("bad argument #1 to 'sign' (string expected, got nil)", W.sign, nil, KEY)
      raises("bad argument #2 to 'sign' (string expected, got nil)", W.sign, body, nil)
      raises("bad argument #2 to 'sign' (the signing key is empty)", W.sign, body, "")
      raises("bad argument #1 to 'parse' (string expected, got boolean)", W.parse, true, sig, KEY)
      raises("bad argument #3 to 'parse' (the signing key is empty)", W.parse, body, sig, "")
    end)

    it("is the same function everywhere: allawee.webhooks and allawee.core.webhooks", function()
      local core = require "allawee.core"
      for _, name in ipairs{ "verify", "parse", "sign", "authorization_reply" } do
        assert.are.equal(core.webhooks[name], W[name])
        assert.is_function(W[name])
      end
    end)
  end)

  ---------------------------------------------------------------------------
  -- parse
  ---------------------------------------------------------------------------

  describe("parse", function()
    it("verifies and decodes an event; integers stay exact", function()
      local event, err = W.parse(signed(EVENT))
      assert.is_nil(err)
      assert.are.equal("card.authorization.request", event.event)
      assert.are.equal("check", event.data.type)
      assert.are.equal(150000, event.data.amount)
      assert.are.equal(2345, event.data.metadata.userId)
      assert.are.equal("2024-10-16T10:00:00.000Z", event.metadata.sentAt)
      assert.are.equal("evt.64f1a2b3c4", event.metadata.event)
      if HAS_INTEGERS then
        assert.are.equal("integer", math.type(event.data.amount))
        assert.are.equal("integer", math.type(event.data.metadata.userId))
        assert.are.equal(9007199254740991, event.data.metadata.ledger)   -- 2^53 - 1
        assert.are.equal("integer", math.type(event.data.metadata.ledger))
      end
      -- the same as a private cjson decode, apart from the integers
      local plain = json.decode(EVENT)
      assert.are.equal(plain.data.id, event.data.id)
      assert.are.equal(plain.data.merchantDescriptor, event.data.merchantDescriptor)
    end)

    it("accepts any event type and any data; only a string event is required", function()
      for _, b in ipairs{ '{"event":"card.transaction.created","data":{}}',
                          '{"event":"request.completed"}',
                          '  {"event":"x","data":[1,2,3],"metadata":null}\n' } do
        local event, err = W.parse(signed(b))
        assert.is_nil(err)
        assert.is_string(event.event)
      end
    end)

    it("a bad signature: nil, err of kind signature, nothing decoded", function()
      local body, sig = signed(EVENT)
      local cases = {
        { body .. " ", sig, "signature_mismatch" },
        { body, W.sign(body, "other"), "signature_mismatch" },
        { body, sig:sub(1, 127), "signature_malformed" },
        { body, nil, "signature_missing" },
        { body, "", "signature_missing" },
        { "not json at all", sig, "signature_mismatch" },
      }
      for i, c in ipairs(cases) do
        local event, err = W.parse(c[1], c[2], KEY)
        assert.is_nil(event, "case " .. i)
        assert.are.equal("signature", err.kind)
        assert.are.equal(c[3], err.code)
        assert.is_nil(err.body)
        assert.is_nil(err.status)
        assert.is_false(err.retryable)
        assert.truthy(tostring(err):match("^allawee signature error: .*%[" .. c[3] .. "%]$"),
                      tostring(err))
      end
    end)

    it("a signed body that is not an event: nil, err of kind decode", function()
      local cases = {
        { "not json", "invalid_json", "webhook body is not JSON" },
        { "", "invalid_json", "empty webhook body" },
        { '{"event":"x"', "invalid_json", "webhook body is not JSON" },
        { '{"event":"x"}garbage', "invalid_json", "webhook body is not JSON" },
        { '{"event":"\255"}', "invalid_json", "webhook body is not valid UTF-8" },
        { "a\0b", "invalid_json", "webhook body is not JSON" },
        { string.rep("[", 100) .. string.rep("]", 100), "invalid_json", "webhook body is not JSON" },
        { "[1,2,3]", "invalid_event", "no \"event\" string" },
        { '"card.authorization.request"', "invalid_event", "not a JSON object" },
        { "42", "invalid_event", "not a JSON object" },
        { "null", "invalid_event", "not a JSON object" },
        { "{}", "invalid_event", "no \"event\" string" },
        { '{"data":{"event":"x"}}', "invalid_event", "no \"event\" string" },
        { '{"event":5}', "invalid_event", "no \"event\" string" },
        { '{"event":""}', "invalid_event", "no \"event\" string" },
        { '{"event":null}', "invalid_event", "no \"event\" string" },
      }
      for i, c in ipairs(cases) do
        local event, err = W.parse(signed(c[1]))
        assert.is_nil(event, "case " .. i)
        assert.are.equal("decode", err.kind, "case " .. i)
        assert.are.equal(c[2], err.code, "case " .. i)
        assert.truthy(err.message:find(c[3], 1, true), "case " .. i .. ": " .. err.message)
        assert.is_nil(err.body)
        assert.is_nil(err.message:find("\n", 1, true))
      end
    end)

    it("a 10 MiB event", function()
      local padding = string.rep("abcdefgh", 10 * 1024 * 1024 / 8)
      local body = '{"event":"card.transaction.created","data":{"padding":"' .. padding .. '"}}'
      local event, err = W.parse(signed(body))
      assert.is_nil(err)
      assert.are.equal(#padding, #event.data.padding)
      local _, err2 = W.parse(body, W.sign(body, KEY):upper(), KEY .. "!")
      assert.are.equal("signature_mismatch", err2.code)
    end)
  end)

  ---------------------------------------------------------------------------
  -- authorization_reply
  ---------------------------------------------------------------------------

  describe("authorization_reply", function()
    local R = W.authorization_reply

    local function refused(reply, request, field, needle)
      local body, err = R(reply, request)
      assert.is_nil(body, "expected a refusal, got " .. tostring(body))
      assert.are.equal("validation", err.kind)
      assert.are.equal("invalid_reply", err.code)
      assert.are.equal(field, err.field)
      if needle then
        assert.truthy(err.message:find(needle, 1, true), err.message)
      end
      assert.truthy(tostring(err):match("^allawee validation error: "))
      return err
    end

    it("encodes an approval with the balance, in the documented order", function()
      assert.are.equal('{"action":"approve","cardBalance":150000}',
                       R({ action = "approve", cardBalance = 150000 }))
      assert.are.equal('{"action":"decline","code":"insufficient-funds"}',
                       R({ code = "insufficient-funds", action = "decline" }))
      local body = R({ metadata = { z = 1, a = { b = true }, m = allawee.null },
                       cardHolderName = "Ciroma Adekunle", cardBalance = 0,
                       code = "spending-control", action = "decline" }, "check")
      assert.are.equal('{"action":"decline","code":"spending-control","cardBalance":0,' ..
                       '"cardHolderName":"Ciroma Adekunle","metadata":{"a":{"b":true},' ..
                       '"m":null,"z":1}}', body)
      -- deterministic: the same table, the same bytes
      local t = { action = "approve", cardBalance = 1, metadata = { k1 = 1, k2 = 2, k3 = 3, k4 = 4 } }
      local first = R(t)
      for _ = 1, 20 do assert.are.equal(first, R(t)) end
      assert.are.same({ action = "approve", cardBalance = 1, metadata = { k1 = 1, k2 = 2, k3 = 3, k4 = 4 } },
                      json.decode(first))
    end)

    it("action: required, approve or decline", function()
      refused({}, nil, "action", "required field is missing")
      refused({ cardBalance = 5 }, nil, "action", "required field is missing")
      refused({ action = "approved" }, nil, "action", "expected one of approve, decline")
      refused({ action = "APPROVE" }, nil, "action")
      refused({ action = true }, nil, "action", "expected string, got boolean")
      refused({ action = allawee.null }, nil, "action", "got null")
      assert.truthy(R({ action = "approve" }))
      assert.truthy(R({ action = "decline" }))
    end)

    it("code: optional, one of the six documented codes", function()
      for _, code in ipairs{ "account-not-found", "account-inactive", "insufficient-funds",
                             "invalid-transaction", "duplicate-transaction", "spending-control" } do
        assert.are.equal(('{"action":"decline","code":"%s"}'):format(code),
                         R({ action = "decline", code = code }))
        assert.truthy(R({ action = "approve", code = code }))   -- the docs do not forbid it
      end
      refused({ action = "decline", code = "insufficient_funds" }, nil, "code", "expected one of")
      refused({ action = "decline", code = "" }, nil, "code")
      refused({ action = "decline", code = 51 }, nil, "code", "expected string, got number")
    end)

    it("cardBalance: a whole number >= 0, exact", function()
      assert.are.equal('{"action":"approve","cardBalance":0}', R({ action = "approve", cardBalance = 0 }))
      assert.are.equal('{"action":"approve","cardBalance":9007199254740992}',
                       R({ action = "approve", cardBalance = 2 ^ 53 }))
      assert.are.equal('{"action":"approve","cardBalance":150000}',
                       R({ action = "approve", cardBalance = 150000.0 }))
      refused({ action = "approve", cardBalance = -1 }, nil, "cardBalance", "whole number >= 0")
      refused({ action = "approve", cardBalance = 1.5 }, nil, "cardBalance", "whole number >= 0")
      refused({ action = "approve", cardBalance = 0 / 0 }, nil, "cardBalance", "whole number >= 0")
      refused({ action = "approve", cardBalance = math.huge }, nil, "cardBalance")
      refused({ action = "approve", cardBalance = 2 ^ 53 + 2 }, nil, "cardBalance", "2^53")
      refused({ action = "approve", cardBalance = "150000" }, nil, "cardBalance", "got string")
      refused({ action = "approve", cardBalance = true }, nil, "cardBalance", "got boolean")
      refused({ action = "approve", cardBalance = allawee.null }, nil, "cardBalance", "got null")
      refused({ action = "approve", cardBalance = {} }, nil, "cardBalance", "got table")
      if HAS_INTEGERS then
        local big = math.tointeger(2 ^ 62) + 1
        assert.are.equal('{"action":"approve","cardBalance":4611686018427387905}',
                         R({ action = "approve", cardBalance = big }))
        assert.are.equal('{"action":"approve","cardBalance":9223372036854775807}',
                         R({ action = "approve", cardBalance = math.maxinteger }))
        refused({ action = "approve", cardBalance = math.mininteger }, nil, "cardBalance", ">= 0")
      end
      if LUAJIT then
        local int64 = assert(loadstring("return 150000LL, 9007199254740993LL, -1LL, 18446744073709551615ULL"))
        local a, b, neg, u = int64()
        assert.are.equal('{"action":"approve","cardBalance":150000}', R({ action = "approve", cardBalance = a }))
        assert.are.equal('{"action":"approve","cardBalance":9007199254740993}',
                         R({ action = "approve", cardBalance = b }))
        assert.are.equal('{"action":"approve","cardBalance":18446744073709551615}',
                         R({ action = "approve", cardBalance = u }))
        refused({ action = "approve", cardBalance = neg }, nil, "cardBalance", "negative")
      end
    end)

    it("cardBalance is required when the request is a check, however it is given", function()
      local event = assert(W.parse(signed(EVENT)))
      for _, request in ipairs{ "check", event, event.data, { type = "check" } } do
        refused({ action = "approve" }, request, "cardBalance", "the request is a check")
        refused({ action = "decline", code = "insufficient-funds" }, request, "cardBalance")
        assert.are.equal('{"action":"approve","cardBalance":7}',
                         R({ action = "approve", cardBalance = 7 }, request))
      end
      local capture = assert(W.parse(signed((EVENT:gsub('"type":"check"', '"type":"capture"')))))
      for _, request in ipairs{ "capture", capture, capture.data, { type = "reversal?" },
                                { data = {} }, {}, { data = { type = 5 } } } do
        assert.are.equal('{"action":"approve"}', R({ action = "approve" }, request))
      end
      assert.are.equal('{"action":"approve"}', R({ action = "approve" }, nil))
    end)

    it("cardHolderName is a string; metadata is any object", function()
      assert.truthy(R({ action = "approve", cardHolderName = "" }))
      refused({ action = "approve", cardHolderName = 42 }, nil, "cardHolderName", "expected string")
      assert.are.equal('{"action":"approve","metadata":{}}', R({ action = "approve", metadata = {} }))
      assert.are.equal('{"action":"approve","metadata":{"list":[1,2],"n":{"x":[]}}}',
                       R({ action = "approve", metadata = { list = { 1, 2 }, n = { x = allawee.empty_array } } }))
      refused({ action = "approve", metadata = "x" }, nil, "metadata", "expected object")
      refused({ action = "approve", metadata = { 1, 2 } }, nil, "metadata", "expected object, got array")
      refused({ action = "approve", metadata = { f = function() end } }, nil, "metadata.f", "cannot encode")
      local cyclic = {}
      cyclic.self = cyclic
      refused({ action = "approve", metadata = cyclic }, nil, "metadata.self", "cycle")
      refused({ action = "approve", metadata = { s = "\255" } }, nil, "metadata.s", "UTF-8")
    end)

    it("an unknown key is refused (a typo), named in terms of the reply", function()
      local err = refused({ action = "approve", cardbalance = 5 }, nil, "cardbalance", "unknown field")
      assert.truthy(err.message:find("action, code, cardBalance, cardHolderName and metadata", 1, true))
      assert.is_nil(err.message:find("create-a-customer", 1, true))
      refused({ action = "approve", balance = 5 }, nil, "balance", "unknown field")
      refused({ action = "approve", ["bad\1key"] = 5 }, nil, "bad\\x01key", "unknown field")
      refused({ action = "approve", [1] = "x" }, nil, nil, "expected object, got array")
      refused({ action = "approve", [true] = "x" }, nil, nil, "non-string key")
    end)

    it("raises for what is not a reply or not a request", function()
      raises("bad argument #1 to 'authorization_reply' (table expected, got string)", R, "approve")
      raises("bad argument #1 to 'authorization_reply' (table expected, got no value)", R)
      raises("bad argument #2 to 'authorization_reply' (\"check\" or \"capture\" expected, got \"chek\")",
             R, { action = "approve" }, "chek")
      raises("bad argument #2 to 'authorization_reply' (table or string expected, got number)",
             R, { action = "approve" }, 5)
    end)

    it("refuses tables that rely on __index or __pairs, without running them", function()
      local calls = 0
      local mt = {
        __index = function() calls = calls + 1; return "approve" end,
        __newindex = function() error("written") end,
        __pairs = function() error("__pairs must not run") end,
        __len = function() error("__len must not run") end,
        __gc = function() end,
      }
      -- a proxy would be sent as what its raw table holds: refused instead
      local body, err = R(setmetatable({ action = "approve", cardBalance = 3 }, mt))
      assert.is_nil(body)
      assert.are.equal("validation", err.kind)
      assert.truthy(err.message:find("__index or __pairs", 1, true))
      body, err = R({ action = "approve", metadata = setmetatable({}, mt) })
      assert.is_nil(body)
      assert.are.equal("metadata", err.field)
      assert.are.equal(0, calls)
      -- a metatable without either changes nothing
      assert.are.equal('{"action":"approve"}',
        R(setmetatable({ action = "approve" }, { __tostring = function() return "x" end })))
      -- a request whose fields come from __index only is no check
      local request = setmetatable({}, { __index = function() return "check" end })
      assert.are.equal('{"action":"approve"}', R({ action = "approve" }, request))
      -- a metadata table with the array metatable and string keys is still an object
      assert.truthy(R({ action = "approve", metadata = allawee.array({}) }))
    end)
  end)

  ---------------------------------------------------------------------------
  -- secrets
  ---------------------------------------------------------------------------

  describe("secrets", function()
    it("the key, the expected signature and the body never appear in what comes back", function()
      local marker = "BODY-MARKER-5f1e"
      local body = '{"event":"x","data":{"secret":"' .. marker .. '"}}'
      local sig = W.sign(body, KEY)
      local needles = { KEY, KEY:upper(), "canary-webhook-signing", sig, sig:upper(),
                        sig:sub(1, 32), sig:sub(97), marker }
      local seen = {}
      local function collect(...)
        for i = 1, select("#", ...) do
          local v = select(i, ...)
          if type(v) == "table" then
            seen[#seen + 1] = tostring(v)
            for k, x in pairs(v) do seen[#seen + 1] = tostring(k) .. "=" .. tostring(x) end
          else
            seen[#seen + 1] = tostring(v)
          end
        end
      end
      local tampered = body:gsub("x", "y", 1)
      local headers = { nil, "", sig:sub(1, 127), sig .. "0", ("z"):rep(128), sig:upper():reverse(), { sig } }
      for i = 1, 7 do
        collect(W.verify(tampered, headers[i], KEY))
        collect(W.parse(tampered, headers[i], KEY))
        collect(W.verify(body, headers[i], KEY .. "x"))
        collect(W.parse(body, headers[i], KEY .. "x"))
      end
      collect(W.verify(tampered, sig, KEY))
      collect(W.parse(tampered, sig, KEY))
      collect(W.parse(marker, W.sign(marker, KEY), KEY))                -- decode error
      collect(W.parse('{"no":"' .. marker .. '"}', W.sign('{"no":"' .. marker .. '"}', KEY), KEY))
      for _, f in ipairs{ function() return W.verify(body, sig, "") end,
                          function() return W.verify(nil, sig, KEY) end,
                          function() return W.sign(body, "") end } do
        collect(pcall(f))
      end
      assert.truthy(#seen > 60)
      for _, s in ipairs(seen) do
        for _, needle in ipairs(needles) do
          assert.is_nil(s:find(needle, 1, true), "a secret leaked into: a returned value")
        end
      end
    end)
  end)
end)
