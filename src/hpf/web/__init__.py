"""The web layer: FastAPI application factory, shared dependencies, templates and static files."""
