-- The answer scanner (src/json_decode.c scan_body: UTF-8 validity and the
-- paths of long integers, before cjson decodes). Every byte it must stop at
-- inside a string (a quote, a backslash, the first byte of a UTF-8
-- sequence, a bad byte) is put at every offset of an 8-byte word, behind
-- keys of every length mod 8, and served byte for byte over HTTP
-- (support.canned); what comes back must be what the bytes say: the
-- decoded string, or a decode error naming the first bad byte. A scanner
-- that skipped a stop byte (a word-at-a-time loop done wrong, for one)
-- would accept bad UTF-8 or lose a 64-bit integer after a long string.
local allawee = require "allawee"
local C = require "support.canned"
local F = require "support.fixtures"

local VALID = {   -- { bytes in the JSON text, the decoded bytes }
  { '\\"', '"' }, { "\\\\", "\\" }, { "\\/", "/" }, { "\\u00e9", "\195\169" },
  { "\195\169", "\195\169" },                 -- é, 2 bytes
  { "\226\130\172", "\226\130\172" },         -- €, 3 bytes
  { "\240\159\152\128", "\240\159\152\128" }, -- U+1F600, 4 bytes
}
local INVALID = {   -- bytes, and where in them the first bad byte is (0-based)
  { "\255", 0 },                  -- never in UTF-8
  { "\195b", 0 },                 -- a lead byte without its continuation
  { "\192\175", 0 },              -- overlong "/"
  { "\237\160\128", 0 },          -- a UTF-16 surrogate
  { "\244\144\128\128", 0 },      -- above U+10FFFF
  { "\128", 0 },                  -- a lone continuation byte
}
local ALIGNMENTS, OFFSETS = 8, 17

describe("the answer scanner, every stop byte at every offset of a word (#decode)", function()
  local srv, cases, c

  setup(function()
    cases = {}
    local answers = {}
    local function add(case)
      cases[#cases + 1] = case
      answers[#answers + 1] = { status = 200, body = case.body }
    end
    for pad = 0, ALIGNMENTS - 1 do
      local key = ("k"):rep(pad + 1)
      for at = 0, OFFSETS - 1 do
        local before, after = ("a"):rep(at), ("b"):rep(OFFSETS + 3 - at)
        for _, v in ipairs(VALID) do
          add { body = '{"code":"success","data":{"' .. key .. '":"' .. before .. v[1] .. after .. '"}}',
                key = key, want = before .. v[2] .. after }
        end
        for _, v in ipairs(INVALID) do
          local head = '{"code":"success","data":{"' .. key .. '":"' .. before
          add { body = head .. v[1] .. after .. '"}}', bad_byte = #head + v[2] + 1 }
        end
      end
      -- a 64-bit integer after a long string, at every alignment
      add { body = '{"code":"success","data":{"' .. key .. '":"' .. ("x"):rep(40 + pad) ..
                   '","n":9007199254740993}}', key = key, want = ("x"):rep(40 + pad), big = true }
    end
    srv = C.start(answers)
    c = allawee.new { secret_key = F.KEY, base_url = srv.url, max_retries = 0 }
  end)
  teardown(function()
    if c then c:close() end
    if srv then srv:stop() end
  end)

  it("decodes or refuses each body as its bytes say", function()
    local checked, refused = 0, 0
    for i, case in ipairs(cases) do
      local data, err = c:request("GET", "/scan/" .. i)
      if case.bad_byte then
        assert.is_nil(data, case.body)
        assert.equals("decode", err.kind)
        assert.equals("invalid_json", err.code)
        local byte = tonumber(tostring(err.message):match("not valid UTF%-8 %(byte (%d+)%)"))
        assert.equals(case.bad_byte, byte, case.body)
        refused = refused + 1
      else
        assert.is_nil(err, case.body)
        assert.equals(case.want, data[case.key], case.body)
        if case.big then
          if F.HAS_INTEGERS then
            assert.equals("integer", math.type(data.n))
            assert.equals(9007199254740993, data.n)
          else
            assert.equals("number", type(data.n))   -- a double on 5.1/LuaJIT (documented)
          end
        end
        checked = checked + 1
      end
    end
    assert.equals(ALIGNMENTS * (OFFSETS * #VALID + 1), checked)
    assert.equals(ALIGNMENTS * OFFSETS * #INVALID, refused)
    assert.equals(#cases, #srv:requests())   -- every case went over HTTP
  end)
end)
