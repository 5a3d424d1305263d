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

return sample
