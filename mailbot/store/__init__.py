"""Persistence: the only package that imports SQLAlchemy, plus the content-addressed blob store."""
