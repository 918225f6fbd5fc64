"""Intake: where a young person's path starts (registration first; engagement, consent, vault follow)."""
