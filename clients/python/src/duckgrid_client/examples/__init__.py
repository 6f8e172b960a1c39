"""Command-line examples: ``python -m duckgrid_client.examples.watch``, ``.update`` and ``.history``."""
