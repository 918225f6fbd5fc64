"""Independently runnable services, one package per bounded context."""
