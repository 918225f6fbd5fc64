"""The views service: keeps every declared read model up to date from the integration streams."""
