"""``ravelin scan`` (placeholder until the injection engine lands)."""
