"""The owner's report: `python -m report` reads a stack's count and Series tables (report/cli.py)."""
