-- Version-guarded writes of many items in a reader's layout ('hash' or 'template'): the data
-- keys hold only what a reader reads; the version (and a tombstone's) lives in a bookkeeping
-- hash beside them. Each item is applied atomically.
-- ARGV[1] tombstone lifetime in ms. Per item i (0-based): KEYS[3i+1] bookkeeping hash,
-- KEYS[3i+2] data key, KEYS[3i+3] the partition's sorted set (the data key when no index);
-- then ARGV from a cursor: version token, op ('upsert', 'delete' or 'fill': a snapshot's
-- lowest version, which only creates), kind ('hash' or 'string'), index score or '', index
-- member or '' (no index), identity (JSON, for verify's scan), names of the fields held as JSON,
-- n, then n values: field/value pairs for a hash, the value for a string.
-- Returns one integer per item: 1 applied, 0 the stored version was the same or newer.

-- older_or_same(new, cur) comes from version_order.lua, loaded before this script.

local function apply(book, data, index, tombstone_ms, w)
  local current = redis.call('HGET', book, 'v')
  if current and (w.op == 'fill' or older_or_same(w.version, current)) then return 0 end
  redis.call('DEL', book, data)
  if w.member ~= '' then redis.call('ZREM', index, w.member) end
  if w.op == 'delete' then
    redis.call('HSET', book, 'v', w.version, 'k', w.identity, 't', '1')
    redis.call('PEXPIRE', book, tombstone_ms)
    return 1
  end
  redis.call('HSET', book, 'v', w.version, 'k', w.identity, 'j', w.json)
  if w.kind == 'hash' then
    if #w.values > 0 then redis.call('HSET', data, unpack(w.values)) end
  else
    redis.call('SET', data, w.values[1])
  end
  if w.member ~= '' and w.score ~= '' then redis.call('ZADD', index, w.score, w.member) end
  return 1
end

local results = {}
local at = 2
for i = 1, #KEYS / 3 do
  local w = {version = ARGV[at], op = ARGV[at + 1], kind = ARGV[at + 2], score = ARGV[at + 3],
    member = ARGV[at + 4], identity = ARGV[at + 5], json = ARGV[at + 6], values = {}}
  local n = tonumber(ARGV[at + 7])
  for j = 1, n do w.values[j] = ARGV[at + 7 + j] end
  at = at + 8 + n
  results[i] = apply(KEYS[3 * i - 2], KEYS[3 * i - 1], KEYS[3 * i], ARGV[1], w)
end
return results
