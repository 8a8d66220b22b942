"""Type stubs for ravelin's compiled core. Every public symbol is typed and documented here."""

__version__: str

class RavelinError(ValueError):
    """Base of every error raised by ravelin's core (bad arguments, rules, names)."""

class InvalidRuleError(RavelinError):
    """A user-supplied rule or pattern is invalid; the message names the rule."""

class UnknownNameError(RavelinError):
    """A model, encoding, entity or operator name is unknown; the message lists known names."""

# --- injection ---

# --- pii ---

# --- tokens ---

# --- keys ---

# --- limits ---

