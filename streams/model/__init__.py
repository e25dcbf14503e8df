"""The domain: change events, declared tables, version order, exact numbers. Imports no runtime."""
