"""Data security: classification, encryption at rest, masking and the audit log (G1–G4)."""
