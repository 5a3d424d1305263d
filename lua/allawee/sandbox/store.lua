--[[
allawee.sandbox.store: the sandbox's data, shared by every route and both
listeners. POST /_sandbox/reset replaces the whole store with an empty one.

Each resource kind ("customer", "account", "card.program", "card",
"card.authorization", "payment", "request") is a collection of records:

    rec = { id = ..., seq = n, public = <the object the API returns>,
            created = <time>, updated = <time>, ... private fields }

`public` is what answers carry; the private fields (a card's PAN and PIN,
an account's balance) never leave the sandbox except through the routes
made for them. `seq` orders the records by creation.
]]

local Store = {}
Store.__index = Store

function Store.new()
  return setmetatable({ kinds = {}, refs = {}, seq = 0, numbers = {} }, Store)
end

local function collection(self, kind)
  local c = self.kinds[kind]
  if not c then
    c = { by_id = {}, list = {} }
    self.kinds[kind] = c
  end
  return c
end

-- Adds a record (rec.id and rec.public set by the caller); returns it.
function Store:add(kind, rec)
  local c = collection(self, kind)
  self.seq = self.seq + 1
  rec.seq = self.seq
  c.by_id[rec.id] = rec
  c.list[#c.list + 1] = rec
  return rec
end

function Store:get(kind, id)
  return collection(self, kind).by_id[id]
end

-- Every record of a kind, oldest first (the caller must not change the list).
function Store:all(kind)
  return collection(self, kind).list
end

function Store:count(kind)
  return #collection(self, kind).list
end

-- References are unique per kind ("customer", "card", "account").
function Store:reference_owner(kind, reference)
  local refs = self.refs[kind]
  return refs and refs[reference]
end

function Store:claim_reference(kind, reference, id)
  local refs = self.refs[kind]
  if not refs then
    refs = {}
    self.refs[kind] = refs
  end
  refs[reference] = id
end

function Store:release_reference(kind, reference)
  local refs = self.refs[kind]
  if refs then refs[reference] = nil end
end

-- Account numbers (deposit channels) -> account record.
function Store:account_by_number(number) return self.numbers[number] end
function Store:add_account_number(number, rec) self.numbers[number] = rec end

return Store
