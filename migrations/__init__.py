"""Alembic migrations of rotest's core tables (branch ``rotest``).

This package is installed with rotest so that :mod:`rotest_app.migrate` can find its
``env.py``, ``script.py.mako``, ``alembic.ini`` and ``versions/``; plugins keep
their own versions directories and branches (see :mod:`rotest_app.migrate`).
"""
