-- Live-item expiry, shared by both LWW scripts. An item's data expires at its instant; its
-- version stays for the tombstone lifetime after it, so an older event arriving then is stale,
-- as after a delete. A sorted set member cannot expire: the members' expiries are kept in a
-- second sorted set, and each write to the partition removes the members past theirs (trim).
-- The `cdc` layout's index, the replicator's own, also expires with its last member when every
-- member has an expiry (settle); the other layouts share theirs with the application, and
-- never give it a TTL.

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function trim(index, expiries, now)
  local gone = redis.call('ZRANGEBYSCORE', expiries, '-inf', now, 'LIMIT', 0, 1000)
  if #gone > 0 then
    redis.call('ZREM', index, unpack(gone))
    redis.call('ZREM', expiries, unpack(gone))
  end
end

local function settle(index, expiries)
  local last = redis.call('ZRANGE', expiries, -1, -1, 'WITHSCORES')
  if #last == 0 then redis.call('PERSIST', index) return end
  redis.call('PEXPIREAT', expiries, last[2])
  if redis.call('ZCARD', expiries) == redis.call('ZCARD', index) then
    redis.call('PEXPIREAT', index, last[2])
  else
    redis.call('PERSIST', index)
  end
end
