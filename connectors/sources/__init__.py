"""Snapshot sources: their contract, JSON Lines files and PostgreSQL tables."""
