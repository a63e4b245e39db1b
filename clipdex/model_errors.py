"""The error of a model that cannot be loaded, apart from the encoder that raises it.

``clipdex.cli`` catches it around every command; importing ``clipdex.encoder`` for the class
alone would cost a cold ``clipdex search``, which never loads that encoder, its imports.
"""

from __future__ import annotations


class ModelLoadError(Exception):
    """The model could not be loaded; the message says how to get it."""
