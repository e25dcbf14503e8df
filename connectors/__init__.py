"""Stores the replicator writes to, and sources it snapshots from: one package each, on the
contracts beside them (store.py; sources/snapshot_source.py)."""
