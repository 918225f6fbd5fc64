"""The gateway: routes partners' CloudEvents to the service that owns each type."""
