"""Policy as data: per-center parameters with effective dates over national defaults."""
