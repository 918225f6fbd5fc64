"""Read models built from the integration streams; each one rebuildable from scratch."""
