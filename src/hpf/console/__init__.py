"""The security console over HTTP: sign-in pages and API, the member's own page, the approvals
queue, security alerts, staff tokens and key administration."""
