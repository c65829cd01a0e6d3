"""Load, overload, attack and fault tests against the real server in a subprocess."""
