"""``clipdex serve``: the HTTP API and the web page over a library.

``create_app`` in ``clipdex.server.app`` builds the FastAPI application from an open library and
a way to load the encoder; ``clipdex.commands.serve`` is the composition root that runs it.
"""
