"""The HTTP API operators and auditors use (FastAPI, bearer tokens)."""
