"""Maker-checker: a change proposed by one person takes effect only when another approves it."""
