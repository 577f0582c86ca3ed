"""File input and output (being written)."""
