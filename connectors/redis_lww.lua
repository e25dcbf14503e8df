-- Version-guarded writes of many items (and their places in the partitions' listings).
-- Each item is applied atomically; one call carries many items to save round trips and
-- per-command work on both sides.
-- ARGV[1] tombstone lifetime in ms; then per item i (0-based), KEYS[2i+1] item hash,
-- KEYS[2i+2] partition index (sorted set), and ARGV[i+2]: its fields joined by NUL (one
-- argument instead of five is less to pack and parse): version token, op, index score or '',
-- index member, data JSON (last: none of the others can hold a NUL, JSON text escapes it).
-- op is 'upsert', 'delete' or 'fill': an upsert at a snapshot's lowest version, which only
-- creates an item that is absent (it never changes one, whatever the versions).
-- Returns one integer per item: 1 applied, 0 the stored version was the same or newer.

-- older_or_same(new, cur) comes from version_order.lua, loaded before this script.

local function apply(item, index, version, op, data, score, member, tombstone_ms)
  local current = redis.call('HGET', item, 'v')
  if current and (op == 'fill' or older_or_same(version, current)) then return 0 end
  if op == 'delete' then
    redis.call('DEL', item)
    redis.call('HSET', item, 'v', version)
    redis.call('PEXPIRE', item, tombstone_ms)
    redis.call('ZREM', index, member)
    return 1
  end
  redis.call('HSET', item, 'v', version, 'd', data)
  redis.call('PERSIST', item)
  if score ~= '' then
    redis.call('ZADD', index, score, member)
  else
    redis.call('ZREM', index, member)
  end
  return 1
end

local function fields(packed)
  local a = string.find(packed, '\0', 1, true)
  local b = string.find(packed, '\0', a + 1, true)
  local c = string.find(packed, '\0', b + 1, true)
  local d = string.find(packed, '\0', c + 1, true)
  return string.sub(packed, 1, a - 1), string.sub(packed, a + 1, b - 1),
    string.sub(packed, b + 1, c - 1), string.sub(packed, c + 1, d - 1), string.sub(packed, d + 1)
end

local results = {}
for i = 1, #KEYS / 2 do
  local version, op, score, member, data = fields(ARGV[i + 1])
  results[i] = apply(KEYS[2 * i - 1], KEYS[2 * i], version, op, data, score, member, ARGV[1])
end
return results
