"""A fetched batch's way to the stores: intake, decode, last-writer-wins, apply, dead letters."""
