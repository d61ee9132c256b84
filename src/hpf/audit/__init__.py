"""The hash-chained audit log every read of personal data and every change writes (G4)."""
