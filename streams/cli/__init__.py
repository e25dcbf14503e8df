"""The `cdc-replicator` command: arguments, one error boundary, and a module per command group."""
