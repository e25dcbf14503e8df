-- Version-guarded writes of many items (and their places in the partitions' listings).
-- Each item is applied atomically; one call carries many items to save round trips and
-- per-command work on both sides.
-- ARGV[1] tombstone lifetime in ms; then per item, in order, its keys: the item hash, its
-- partition's index (sorted set) and, only for a table that declares an expiry, its members'
-- expiries (sorted set; fewer keys are less to pack and parse); and ARGV[i+1]: its fields
-- joined by NUL (one argument instead of six is less to pack and parse):
-- version token, op, index score or '', index member, expiry ('' for a table that declares
-- none, 'never', or epoch ms), data JSON (last: none of the others can hold a NUL, JSON text
-- escapes it). An expiring item's data is kept, unread (field x: the instant), as long as its
-- version: this layout holds both in one hash (expiry.lua says why the version stays).
-- op is 'upsert', 'delete' or 'fill': an upsert at a snapshot's lowest version, which only
-- creates an item that is absent (it never changes one, whatever the versions), each with a
-- '+' for a table whose items may hold values older than themselves (a Debezium table's);
-- or 'cas': the
-- item as the worker merged it with what it read (connectors/redis/merge.py), written only if
-- the item's version and older origins are still those it read; its data field is then the
-- version and the older origins read, the new older origins and the oldest of them, then the
-- data JSON, joined by NUL.
-- An item holding values older than itself (a partial upsert's, streams/model/partial.py)
-- keeps their origins in field o (JSON), and in m its version, \1 and the oldest origin; a
-- whole write does not clear them (no call more): m names the version they belong to.
-- Returns one integer per item: 1 applied, 0 the stored version was the same or newer, 2 the
-- same, but the item holds values older than this write, which the worker merges ('cas'), 3
-- a 'cas' whose item changed since it was read.

-- older_or_same, older_kept, now_ms, trim and settle come from version_order.lua and
-- expiry.lua, loaded before this script.

local function expire(item, index, expiries, member, score, at, tombstone_ms, now)
  redis.call('ZREM', expiries, member)
  trim(index, expiries, now)
  if at then
    redis.call('HSET', item, 'x', at)
    -- The version outlives the expiry by the tombstone lifetime, counted from now at the
    -- earliest: an expiry already long past keeps it as long as a delete would.
    redis.call('PEXPIREAT', item, math.max(at, now) + tombstone_ms)
    if at <= now then redis.call('ZREM', index, member) end  -- already past: never listed
    if at > now and score ~= '' then redis.call('ZADD', expiries, at, member) end
  end
  settle(index, expiries)
end

-- The first n - 1 NUL-terminated fields of `packed`, then the rest of it (the data, which may
-- hold NULs of its own).
local function split(packed, n)
  local parts, at = {}, 1
  for i = 1, n - 1 do
    local stop = string.find(packed, '\0', at, true)
    parts[i] = string.sub(packed, at, stop - 1)
    at = stop + 1
  end
  parts[n] = string.sub(packed, at)
  return unpack(parts)
end

local function apply(item, index, expiries, version, op, data, score, member, expires, tombstone_ms)
  local current, older = redis.call('HGET', item, 'v'), nil
  if op == 'cas' then
    local read_v, read_o, origins, oldest
    read_v, read_o, origins, oldest, data = split(data, 5)
    local now = redis.call('HMGET', item, 'v', 'o')
    if (now[1] or '') ~= read_v or (now[2] or '') ~= read_o then return 3 end
    older = {origins, oldest}
  elseif current and (op == 'fill' or op == 'fill+' or older_or_same(version, current)) then
    -- Only a stale write of a table whose items may hold older values (op ending in '+')
    -- reads m; a whole write newer than the item leaves it behind.
    local keeps = op == 'upsert+' or op == 'delete+' or op == 'fill+'
    if keeps and older_kept(redis.call('HGET', item, 'm'), current, version) then return 2 end
    return 0
  end
  if op == 'delete' or op == 'delete+' then
    redis.call('DEL', item)
    redis.call('HSET', item, 'v', version)
    redis.call('PEXPIRE', item, tombstone_ms)
    redis.call('ZREM', index, member)
    if expires ~= '' then expire(item, index, expiries, member, '', nil, 0, now_ms()) end
    return 1
  end
  if expires ~= '' then redis.call('HDEL', item, 'x') end
  redis.call('HSET', item, 'v', version, 'd', data)
  if older and older[1] ~= '' then
    redis.call('HSET', item, 'o', older[1], 'm', older[2])
  elseif older then
    redis.call('HDEL', item, 'o', 'm')
  end
  redis.call('PERSIST', item)
  if score ~= '' then
    redis.call('ZADD', index, score, member)
  else
    redis.call('ZREM', index, member)
  end
  if expires ~= '' then
    expire(item, index, expiries, member, score, tonumber(expires), tonumber(tombstone_ms), now_ms())
  end
  return 1
end

local results, k = {}, 1
for i = 1, #ARGV - 1 do
  local version, op, score, member, expires, data = split(ARGV[i + 1], 6)
  local expiries = nil
  if expires ~= '' then expiries = KEYS[k + 2] end
  results[i] = apply(KEYS[k], KEYS[k + 1], expiries, version, op, data, score, member, expires,
    ARGV[1])
  k = k + (expiries and 3 or 2)
end
return results
