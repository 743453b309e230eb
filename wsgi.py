"""The WSGI app for production servers. Upgrade the database, then serve it::

    rotest db upgrade
    gunicorn wsgi:app --worker-class gthread --workers 4 --threads 64 --bind 0.0.0.0:8000

Threaded workers matter: a client waiting in the lock queue long-polls, holding
a thread rather than a whole worker.
"""
from app import create_app

app = create_app()
