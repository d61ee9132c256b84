"""Access: roles, permissions and scopes, and who a principal is (pure; G4)."""
