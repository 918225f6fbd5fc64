"""The platform's message contracts: the single source of truth for `contracts/`."""
