-- The version order both LWW scripts share: is version token `new` older than, or the same
-- as, `cur`? A token is a 16-digit zero-padded ts, then origin and event id; ts compares as a
-- number, the rest byte by byte (not strcoll: redis-server may run under any locale).
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
