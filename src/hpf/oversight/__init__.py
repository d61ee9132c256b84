"""The center's side of supervision follow-up (decision 0040): problems the hub dispatches and
their rectification, the credit list — this center's entries, the national list, the stricter
review of a listed employer's lists."""
