-- Version-guarded write of one item (and its place in the partition's listing), atomically.
-- KEYS[1] item hash, KEYS[2] partition index (sorted set)
-- ARGV[1] version token, ARGV[2] op, ARGV[3] data JSON, ARGV[4] index score or '',
-- ARGV[5] index member, ARGV[6] tombstone lifetime in ms
-- Returns 1 when applied, 0 when the stored version is the same or newer.

-- Byte order, not strcoll: redis-server may run under any locale.
local function older_or_same(new, cur)
  if new == cur then return true end
  local new_ts, cur_ts = tonumber(string.sub(new, 1, 16)), tonumber(string.sub(cur, 1, 16))
  if new_ts ~= cur_ts then return new_ts < cur_ts end
  local n = math.min(#new, #cur)
  for i = 17, n do
    local a, b = string.byte(new, i), string.byte(cur, i)
    if a ~= b then return a < b end
  end
  return #new < #cur
end

local current = redis.call('HGET', KEYS[1], 'v')
if current and older_or_same(ARGV[1], current) then return 0 end

if ARGV[2] == 'delete' then
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'v', ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[6])
  redis.call('ZREM', KEYS[2], ARGV[5])
  return 1
end

redis.call('HSET', KEYS[1], 'v', ARGV[1], 'd', ARGV[3])
redis.call('PERSIST', KEYS[1])
if ARGV[4] ~= '' then
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[5])
else
  redis.call('ZREM', KEYS[2], ARGV[5])
end
return 1
