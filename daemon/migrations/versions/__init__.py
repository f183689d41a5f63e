"""Alembic revisions, written by hand; one module per schema change."""
