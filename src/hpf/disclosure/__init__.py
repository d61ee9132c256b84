"""What a response may show of personal data (masks by role), the audit row of every read and
export, and the alerts on read and export rates with thresholds as policy."""
