"""Fixtures for the runner tests: a throwaway PostgreSQL server (tests/pg.py)."""

from pg import database_url, postgres_server  # noqa: F401 - fixtures used by the tests here
