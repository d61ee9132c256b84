"""OpenHPF: the Housing Provident Fund platform (center and hub roles)."""
