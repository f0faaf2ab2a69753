"""The analyst's web UI and REST API (``adwatch serve``): FastAPI, server-rendered pages."""
