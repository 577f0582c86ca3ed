"""Package data: example datasets and logs made by the Micrographia project."""
