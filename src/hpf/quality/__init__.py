"""Data quality (B2, decision 0032): rules as data, the set-based scan, scores and trend, and the
correction workflow of the findings."""
