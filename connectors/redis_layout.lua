-- Version-guarded writes of many items in a reader's layout ('hash' or 'template'): the data
-- keys hold only what a reader reads; the version (and a tombstone's) lives in a bookkeeping
-- hash beside them. Each item is applied atomically.
-- ARGV[1] tombstone lifetime in ms, ARGV[2] '1' when the table's items may expire. Per item i
-- (0-based): KEYS[4i+1] bookkeeping hash, KEYS[4i+2] data key, KEYS[4i+3] the partition's sorted
-- set and KEYS[4i+4] its members' expiries (both the data key when no index); then ARGV from a
-- cursor: version token, op ('upsert', 'delete' or 'fill': a snapshot's lowest version, which
-- only creates), kind ('hash' or 'string'), index score or '', index member or '' (no index),
-- identity (JSON, for verify's scan), names of the fields held as JSON, expiry (epoch ms, or ''
-- for never), n, then n values: field/value pairs for a hash, the value for a string.
-- Returns one integer per item: 1 applied, 0 the stored version was the same or newer.

-- Expiry: see expiry.lua.

-- older_or_same, now_ms, trim and settle come from version_order.lua and expiry.lua, loaded
-- before this script.

local function write_data(data, index, expiries, w)
  if w.kind == 'hash' then
    if #w.values > 0 then redis.call('HSET', data, unpack(w.values)) end
  else
    redis.call('SET', data, w.values[1])
  end
  if w.expires ~= '' then redis.call('PEXPIREAT', data, w.expires) end
  if w.member ~= '' and w.score ~= '' then
    redis.call('ZADD', index, w.score, w.member)
    if w.expires ~= '' then redis.call('ZADD', expiries, w.expires, w.member) end
  end
end

local function apply(book, data, index, expiries, tombstone_ms, now, w)
  local current = redis.call('HGET', book, 'v')
  if current and (w.op == 'fill' or older_or_same(w.version, current)) then return 0 end
  if not current and w.op == 'fill' and redis.call('EXISTS', data) == 1 then
    -- Data the reader's own application wrote before the replicator: a snapshot never changes
    -- it. Its version is recorded beside it (fields as they are, none read as JSON), so get
    -- and verify see the item; verify compares the data and --repair writes above it.
    redis.call('HSET', book, 'v', w.version, 'k', w.identity, 'j', '[]')
    return 0
  end
  redis.call('DEL', book, data)
  if w.member ~= '' then
    redis.call('ZREM', index, w.member)
    if now then
      redis.call('ZREM', expiries, w.member)
      trim(index, expiries, now)
    end
  end
  if w.op == 'delete' then
    redis.call('HSET', book, 'v', w.version, 'k', w.identity, 't', '1')
    redis.call('PEXPIRE', book, tombstone_ms)
  else
    redis.call('HSET', book, 'v', w.version, 'k', w.identity, 'j', w.json)
    if w.expires ~= '' then
      redis.call('HSET', book, 'x', w.expires)
      redis.call('PEXPIREAT', book, tonumber(w.expires) + tonumber(tombstone_ms))
    end
    -- An item already past its expiry keeps only its version.
    if w.expires == '' or tonumber(w.expires) > now then write_data(data, index, expiries, w) end
  end
  if now and w.member ~= '' then settle(index, expiries) end
  return 1
end

local now = ARGV[2] == '1' and now_ms() or nil
local results = {}
local at = 3
for i = 1, #KEYS / 4 do
  local w = {version = ARGV[at], op = ARGV[at + 1], kind = ARGV[at + 2], score = ARGV[at + 3],
    member = ARGV[at + 4], identity = ARGV[at + 5], json = ARGV[at + 6], expires = ARGV[at + 7],
    values = {}}
  local n = tonumber(ARGV[at + 8])
  for j = 1, n do w.values[j] = ARGV[at + 8 + j] end
  at = at + 9 + n
  local k = 4 * i
  results[i] = apply(KEYS[k - 3], KEYS[k - 2], KEYS[k - 1], KEYS[k], ARGV[1], now, w)
end
return results
