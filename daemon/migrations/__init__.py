"""Schema migrations (Alembic), run by daemon.store.open_engine and `complaintd migrate`."""
