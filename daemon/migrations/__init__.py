"""Schema migrations (Alembic), run by daemon.migrate: at every open_engine and by `complaintd migrate`."""
