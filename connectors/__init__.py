"""Stores the replicator writes to, and sources it snapshots from: one module each."""
