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

-- Whether an item at version `cur` holds values older than itself that the write `new`, not
-- newer than the item, may still settle (streams/model/partial.py): `m` (a hash field) is
-- the version those origins belong to, \1, and the oldest origin ('' for one no write carried).
-- A whole write leaves an earlier version's `m` behind: it speaks for that version only.
local function older_kept(m, cur, new)
  if not m or string.sub(m, 1, #cur) ~= cur or string.byte(m, #cur + 1) ~= 1 then return false end
  local oldest = string.sub(m, #cur + 2)
  return oldest == '' or not older_or_same(new, oldest)
end
