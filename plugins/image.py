"""Built-in plugin (being written)."""

from micrographia import hookimpl


@hookimpl
def micrographia_register(registry):  # noqa: ANN001, ANN201, D103
    pass
