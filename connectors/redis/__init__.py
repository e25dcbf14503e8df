"""The Redis store: version-guarded writes by Lua scripts, layouts, reads; and the reader of the
origin application's Redis data for snapshots."""
