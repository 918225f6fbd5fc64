"""Shared rules and the platform's security model: consent, the agency register, roles, operator accounts
and the access log. Services, projections and the HTTP app depend on it; it depends on no service."""
