-- Regressions found by the sanitizers, the fuzzers and the linters
-- (make asan, make fuzz, make lint). Each test names what was found and
-- where; under `make asan` a relapse is a UBSan/ASan report, under the
-- plain build it is the behaviour checked here.
local allawee = require "allawee"
local core = require "allawee.core"
local S = require "support.sandbox"
local F = require "support.fixtures"

describe("regressions", function()
  local sb

  setup(function() sb = S.start() end)
  teardown(function() if sb then sb:stop() end end)

  -- UBSan, request.c ax_drive: (int)ceil(wait_s * 1000) with wait_s = inf
  -- (poll(math.huge)) or past INT_MAX ms is a float-cast-overflow.
  describe("client:poll with a timeout no int can hold", function()
    for _, case in ipairs({ { "math.huge", math.huge }, { "1e300", 1e300 },
                            { "2^31 ms", 2 ^ 31 }, { "NaN", 0 / 0 } }) do
      it("returns once the request in flight is delivered (" .. case[1] .. ")", function()
        local client = F.client(sb, { base_url = S.scenario_url(sb, "delay=100") })
        local got
        client.customers.create_async(F.minimal(), function(data, err) got = data or err end)
        local left = client:poll(case[2])
        assert.equals(0, left)
        assert.is_table(got)
        assert.is_string(got.id)
        client:close()
      end)
    end

    it("returns at once with nothing in flight", function()
      local client = F.client(sb)
      assert.equals(0, client:poll(math.huge))
      client:close()
    end)
  end)

  -- UBSan, errors.c error_tostring: (lua_Integer) of a huge or NaN status
  -- or attempts, which core.error tables take from their callers.
  describe("tostring of an error table with numbers no integer can hold", function()
    it("leaves out what it cannot show", function()
      local text = tostring(core.error({ kind = "api", message = "m", status = 1e300, attempts = 0 / 0 }))
      assert.equals("allawee api error: m", text)
      text = tostring(core.error({ kind = "api", message = "m", status = -1e300, attempts = math.huge }))
      assert.equals("allawee api error: m", text)
    end)

    it("still shows ordinary ones", function()
      local text = tostring(core.error({ kind = "api", message = "m", status = 503, attempts = 3 }))
      assert.matches("(HTTP 503)", text, 1, true)
      assert.matches("after 3 attempts", text, 1, true)
    end)
  end)

  -- clang-tidy cert-err34-c, codec_api.c: atof on a Retry-After header
  -- (undefined on overflow); now strtod.
  it("core.interpret takes any Retry-After text", function()
    for _, value in ipairs({ "1e999", "-1e999", "nan", "Wed, 21 Oct 2015 07:28:00 GMT", "", "9" }) do
      local data, err = core.interpret(429, '{"code":"too-many-requests"}', { ["retry-after"] = value }, 1)
      assert.is_nil(data)
      assert.equals("rate_limit", err.kind)
    end
  end)

  it("the module still loads and reports its version", function()
    assert.is_string(allawee.version)
  end)
end)
