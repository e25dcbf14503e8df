"""The Redis store: version-guarded writes by Lua scripts, layouts, reads; and the reader of the
legacy app's Redis data for snapshots."""
