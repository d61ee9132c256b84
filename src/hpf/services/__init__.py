"""Services (E1, E2, A8): the service catalog, applications and their review, business archives."""
