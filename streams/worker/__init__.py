"""The long-running worker: the Faust app, its per-store agents, health, metrics, web pages."""
