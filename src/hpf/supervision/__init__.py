"""Supervision reporting (监管报送, C2; decision 0039): a center's month computed as the
supervision indicators its data supports and the pseudonymised member-level data set, sent to
the hub as signed, sealed SUP101 messages; restatements; the page of what was sent."""
