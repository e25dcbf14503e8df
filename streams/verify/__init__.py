"""Comparing the stores item by item, and repairing drift through the topic."""
