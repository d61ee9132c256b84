"""Identity: sign-in with password, TOTP and SMS codes, throttled by login and address; API tokens
and page sessions."""
