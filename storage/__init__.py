"""The library on disk: the SQLite/PostgreSQL database (the truth) and the FAISS index (a cache).

Import the submodules (``storage.library``, ``storage.repository``, ...) directly; nothing is
re-exported here so that importing one of them does not load FAISS or SQLAlchemy needlessly.
"""
