"""The embedded local stack: `python -m local` (see __main__.py)."""
