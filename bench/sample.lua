--- The documented payloads every benchmark row sends and receives, so that
-- all rows (and the micro-benchmarks) measure the same bytes.
--
-- params: the individual-customer sample of create-a-customer.md (individual
-- claims only; "tier-2" in place of the page's placeholder "string", which
-- the validator rightly refuses), metadata {userId = 2345}.
-- success_body: the success envelope of allawee-api-notes.md, minified; the
-- nginx double answers it to every POST /customers.
local sample = {}

function sample.params()
  return {
    name = "Ciroma C Adekunle",
    reference = "customer@example.com",
    type = "individual",
    claims = {
      individualInformation = {
        title = "Mr",
        gender = "M",
        nationalityCode = "NG",
        firstName = "Ciroma",
        middleName = "Chukwuma",
        lastName = "Adekunle",
        phoneNumber = "+2348123456789",
        dateOfBirth = "1997-2-13",
        email = "customer@example.com",
      },
      individualAddress = {
        city = "Yaba",
        state = "Lagos",
        countryCode = "NG",
        addressLineOne = "No 10, Adekunle Close",
        addressLineTwo = "Off Ciroma Rd",
      },
      individualIdentity = {
        type = "bvn",
        id = "A015BVP13Z",
        url = "https://example.com/document.png",
        issuingCountry = "NG",
      },
    },
    verifications = { "tier-2" },
    metadata = { userId = 2345 },
  }
end

sample.success_body = table.concat {
  '{"code":"success","data":{"name":"Ciroma C Adekunle","type":"individual",',
  '"status":"active","claims":{"individualInformation":{"firstName":"Ciroma",',
  '"lastName":"Adekunle","middleName":"Chukwuma","email":"ciroma@gmail.com",',
  '"phoneNumber":"+2349154109234","title":"Mr","gender":"M",',
  '"dateOfBirth":"1997-2-13","nationalityCode":"NG"},"individualAddress":',
  '{"city":"Yaba","state":"NG-LA","countryCode":"NG","addressLineOne":',
  '"100 herbert macaulay road","addressLineTwo":"","postalCode":"11041"},',
  '"individualIdentity":{"type":"bvn","id":"22489035167","issuingCountry":"NG"}},',
  '"verifications":[{"type":"tier-2","status":"verified"}],',
  '"metadata":{"userId":2345},"createdAt":"2023-03-14T23:21:12.882Z",',
  '"updatedAt":"2023-03-14T23:21:12.882Z","id":"cus.2tXNjMhytgx7hCxu9",',
  '"object":"customer"}}',
}

--- The x-request-id the double sends with every answer.
sample.request_id = "req.bench.0001"

-- ------------------------------------------------------------ other routes

--- The customer the create answers with: GET /customers/:id answers the
-- same envelope (status 200).
sample.customer_id = "cus.2tXNjMhytgx7hCxu9"
sample.get_body = sample.success_body

--- customers.list: the double holds list_pages * list_limit customers (the
-- create answer's object, each with its own id) and answers
-- GET /customers?limit=<list_limit>&page=<p> for p = 0 .. list_pages - 1,
-- metadata.hasMore true on all but the last page: a customers.each with
-- { limit = list_limit } fetches exactly list_pages pages.
sample.list_limit = 10
sample.list_pages = 3

local customer_object = sample.success_body:match('^{"code":"success","data":(.*)}$')
assert(customer_object and customer_object:find(sample.customer_id, 1, true))

--- The text of page p (0-based) of the customers list.
function sample.list_page(p)
  local items = {}
  for i = 1, sample.list_limit do
    local n = p * sample.list_limit + i
    items[i] = customer_object:gsub(sample.customer_id:gsub("%p", "%%%0"),
                                    string.format("cus.bench%011d", n))
  end
  return table.concat {
    '{"code":"success","data":[', table.concat(items, ","), '],"metadata":{"hasMore":',
    p < sample.list_pages - 1 and "true" or "false", '}}',
  }
end

--- The query of page p, as allawee writes it (keys sorted).
function sample.list_query(p)
  return string.format("?limit=%d&page=%d", sample.list_limit, p)
end

--- cards.create: a virtual card with the spending controls of the cards
-- page (allowedChannels, blockedChannels and spendingLimits go together),
-- funded from an account; the answer is the card object the sandbox makes
-- (status inactive, details without the PAN).
function sample.card_params()
  return {
    program = "c.prg.2tXNkH3ap5vR1Qz8",
    customer = sample.customer_id,
    reference = "card-bench-0001",
    amount = 500000,
    cardHolderName = "Ciroma C Adekunle",
    debitSource = "ac.2tXNm8dJr4Wq7Lk2",
    debitCurrency = "NGN",
    controls = {
      allowedChannels = { "pos", "web" },
      blockedChannels = { "atm" },
      spendingLimits = { { amount = 100000, interval = "daily" } },
    },
    metadata = { userId = 2345 },
  }
end

sample.card_body = table.concat {
  '{"code":"success","data":{"type":"virtual","network":"verve","status":"inactive",',
  '"currency":"NGN","program":"c.prg.2tXNkH3ap5vR1Qz8","customer":"cus.2tXNjMhytgx7hCxu9",',
  '"reference":"card-bench-0001","details":{"last4":"2654","expiry":"12/31",',
  '"cardHolderName":"Ciroma C Adekunle"},"balance":500000,"controls":{"allowedChannels":',
  '["pos","web"],"blockedChannels":["atm"],"spendingLimits":[{"amount":100000,',
  '"interval":"daily"}]},"metadata":{"userId":2345},"createdAt":"2023-03-14T23:25:40.117Z",',
  '"updatedAt":"2023-03-14T23:25:40.117Z","id":"c.2tXNq7bKc9mWd3Rf5","object":"card"}}',
}

return sample
