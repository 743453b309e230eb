"""The WSGI app for production servers. Upgrade the database, then serve it::

    rotest db upgrade
    gunicorn -k gthread --threads 8 -w 4 wsgi:app
"""
from app import create_app

app = create_app()
