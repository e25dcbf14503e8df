-- Version-guarded writes of many items in a reader's layout ('hash' or 'template'): the data
-- keys hold only what a reader reads; the version (and a tombstone's) lives in a bookkeeping
-- hash beside them, with the identity of the item that owns the key. Each item is applied
-- atomically, or refused having changed nothing.
-- ARGV[1] tombstone lifetime in ms, ARGV[2] '1' when the table's items may expire. Per item i
-- (0-based): KEYS[4i+1] bookkeeping hash, KEYS[4i+2] data key, KEYS[4i+3] the partition's sorted
-- set and KEYS[4i+4] its members' expiries (both the data key when no index); then ARGV from a
-- cursor: version token, op ('upsert', 'delete' or 'fill': a snapshot's lowest version, which
-- only creates), kind ('hash' or 'string'), index score or '', '=' and the index member, or '' (no index: a member may be ''),
-- identity (JSON), names of the fields held as JSON, expiry (epoch ms, or '' for never), n,
-- then n values: field/value pairs for a hash, the value for a string. The op 'cas' is an
-- upsert of the item as the worker merged it with what it read (connectors/redis/merge.py),
-- written only if the item's version and older origins are still those it read; it carries,
-- NUL-separated after 'cas', the version and older origins read, the new older origins and
-- m (bookkeeping fields o and m: an item holding values older than itself,
-- streams/model/partial.py; m is its version, \1 and the oldest origin).
-- Returns one reply per item: 1 applied, 0 the stored version was the same or newer, 2 the
-- same, but the item holds values older than this write, which the worker merges ('cas'), 3
-- a 'cas' whose item changed since it was read, or a refusal, NUL-separated: 'owned', the
-- identity of the item that owns the key (ids are filled in as they are, so two items can
-- render one key: the first keeps it); or 'type', a key, the type it holds and the one it
-- should (the application, or another table, wrote it).
-- The sorted set is shared with the application, so this script never gives it a TTL: members
-- past their expiry leave it at the partition's next write (expiry.lua's trim).

-- older_or_same, older_kept, now_ms and trim come from version_order.lua and expiry.lua,
-- loaded before.

local function refusal(key, held, wanted)
  return 'type\0' .. key .. '\0' .. held .. '\0' .. wanted
end

local function wrong_type(key, wanted)
  local held = redis.call('TYPE', key)['ok']
  if held == 'none' or held == wanted then return nil end
  return refusal(key, held, wanted)
end

-- Takes the item's member out of the listing (and its expiries), or refuses, having changed
-- nothing, a listing of another type: ZREM checks the type itself, no TYPE call needed.
local function unlist(index, expiries, now, w)
  local wrong = now and wrong_type(expiries, 'zset')
  if wrong then return wrong end
  local removed = redis.pcall('ZREM', index, w.member)
  if type(removed) == 'table' then return refusal(index, redis.call('TYPE', index)['ok'], 'zset') end
  if now then
    redis.call('ZREM', expiries, w.member)
    trim(index, expiries, now)
  end
  return nil
end

local function write_data(data, index, expiries, w)
  if w.kind == 'hash' then
    if #w.values > 0 then redis.call('HSET', data, unpack(w.values)) end
  elseif #w.values > 0 then
    redis.call('SET', data, w.values[1])
  else
    redis.call('DEL', data)  -- a merged item without its value attribute: no data yet
  end
  if w.expires ~= '' then redis.call('PEXPIREAT', data, w.expires) end
  if w.listed and w.score ~= '' then
    redis.call('ZADD', index, w.score, w.member)
    if w.expires ~= '' then redis.call('ZADD', expiries, w.expires, w.member) end
  end
end

-- The version the key holds for this item: nil when none (or only a gone item's, whose key is
-- free); or a refusal, and whether it is that another item owns the key.
local function held_version(book, now, w)
  local held = redis.pcall('HMGET', book, 'v', 'k', 'm')
  if held['err'] then return nil, wrong_type(book, 'hash') end
  local version, owner = held[1], held[2]
  w.oldest = held[3]
  if not owner or owner == w.identity then return version, nil end
  local tombstone, expires = unpack(redis.call('HMGET', book, 't', 'x'))
  if tombstone or (expires and now and tonumber(expires) <= now) then return nil, nil end
  return nil, 'owned\0' .. owner, true
end

local function apply(book, data, index, expiries, tombstone_ms, now, w)
  local current, refused, taken = held_version(book, now, w)
  if taken and w.op == 'delete' then return 0 end  -- the key holds another item: absent already
  if refused then return refused end
  if w.cas then
    local read = redis.call('HMGET', book, 'v', 'o')
    if (current or '') ~= w.cas[1] or (current and read[2] or '') ~= w.cas[2] then return 3 end
  elseif current and (w.op == 'fill' or older_or_same(w.version, current)) then
    if older_kept(w.oldest, current, w.version) then return 2 end
    return 0
  end
  -- Every key's type is checked before anything changes: the data key's here, the listing's
  -- by its first change (unlist), the bookkeeping's by HMGET (held_version).
  local held = redis.call('TYPE', data)['ok']
  if held ~= 'none' and held ~= w.kind then return refusal(data, held, w.kind) end
  if not current and w.op == 'fill' and held ~= 'none' then
    -- Data the reader's own application wrote before the replicator: a snapshot never changes
    -- it. Its version is recorded beside it (fields as they are, none read as JSON), so get
    -- and verify see the item; verify compares the data and --repair writes above it.
    redis.call('DEL', book)
    redis.call('HSET', book, 'v', w.version, 'k', w.identity, 'j', '[]')
    return 0
  end
  if w.listed then
    refused = unlist(index, expiries, now, w)
    if refused then return refused end
  end
  if w.kind == 'string' and w.op ~= 'delete' then
    redis.call('DEL', book)  -- SET replaces the data, unless the item is written expired
    if w.expires ~= '' and tonumber(w.expires) <= now then redis.call('DEL', data) end
  else
    redis.call('DEL', book, data)
  end
  if w.op == 'delete' then
    redis.call('HSET', book, 'v', w.version, 'k', w.identity, 't', '1')
    redis.call('PEXPIRE', book, tombstone_ms)
  else
    redis.call('HSET', book, 'v', w.version, 'k', w.identity, 'j', w.json)
    if w.cas and w.cas[3] ~= '' then redis.call('HSET', book, 'o', w.cas[3], 'm', w.cas[4]) end
    if w.expires ~= '' then
      -- The version outlives the expiry by the tombstone lifetime, counted from now at the
      -- earliest: an expiry already long past keeps it as long as a delete would.
      local at = tonumber(w.expires)
      redis.call('HSET', book, 'x', w.expires)
      redis.call('PEXPIREAT', book, math.max(at, now) + tonumber(tombstone_ms))
    end
    -- An item already past its expiry keeps only its version.
    if w.expires == '' or tonumber(w.expires) > now then write_data(data, index, expiries, w) end
  end
  return 1
end

local now = ARGV[2] == '1' and now_ms() or nil
local results = {}
local at = 3
for i = 1, #KEYS / 4 do
  local w = {version = ARGV[at], op = ARGV[at + 1], kind = ARGV[at + 2], score = ARGV[at + 3],
    member = string.sub(ARGV[at + 4], 2), listed = ARGV[at + 4] ~= '', identity = ARGV[at + 5],
    json = ARGV[at + 6], expires = ARGV[at + 7], values = {}}
  local n = tonumber(ARGV[at + 8])
  for j = 1, n do w.values[j] = ARGV[at + 8 + j] end
  if string.sub(w.op, 1, 4) == 'cas\0' then
    w.cas, w.op = {}, 'upsert'
    for part in string.gmatch(string.sub(ARGV[at + 1], 5) .. '\0', '([^%z]*)%z') do
      w.cas[#w.cas + 1] = part
    end
  end
  at = at + 9 + n
  local k = 4 * i
  results[i] = apply(KEYS[k - 3], KEYS[k - 2], KEYS[k - 1], KEYS[k], ARGV[1], now, w)
end
return results
