"""Orchestration of a run: services, journal, rollback on every exit path."""
