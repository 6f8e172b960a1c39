"""Command-line examples: ``python -m duckgrid_client.examples.watch`` and ``.update``."""
