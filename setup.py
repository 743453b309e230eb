"""One distribution: the server (app), the runtime (rotest_core) and reports."""
from setuptools import find_packages, setup

setup(
    name="rotest-flask",
    version="0.1.0",
    description="Resource-oriented test framework: a lock server, a test runtime and reports",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["app", "app.*", "rotest_core", "rotest_core.*",
                                    "reports", "reports.*", "migrations", "migrations.*"]),
    py_modules=["wsgi"],
    include_package_data=True,
    package_data={
        "app": ["templates/**/*", "static/**/*"],
        "rotest_app.api": ["openapi.json"],
        "migrations": ["*.ini", "*.mako", "versions/*.py"],
    },
    install_requires=[
        "flask>=3.0",
        "flask-sqlalchemy>=3.1",
        "sqlalchemy>=2.0",
        "flask-admin[sqlalchemy]>=2.0",
        "flask-migrate>=4.0",
        "alembic>=1.13",            # imported directly (app/migrate.py)
        "flask-login>=0.6",
        "flask-wtf>=1.2",
        "wtforms>=3.1",             # imported directly (admin forms)
        "limits>=4.0",
        "gunicorn>=22",
        "pyyaml>=6",
        "requests>=2.31",
        "rpyc>=6",
        "openpyxl>=3.1",
        "lxml>=5",
        "google-re2>=1.1",  # error signatures: linear-time matching
        "jsonschema>=4.18",  # API bodies checked against openapi.json
        "referencing>=0.28",  # imported directly (app/api/contract.py)
    ],
    extras_require={
        "postgres": ["psycopg[binary]>=3.1"],
        "test": [
            "pytest>=8",
            "pytest-xdist>=3",
            "psycopg[binary]>=3.1",
            "playwright>=1.40",
            "openapi-spec-validator>=0.7",
            "testresources>=2.0",
            "testtools>=2.5",  # testresources' own tests (tests/testresources_upstream)
            "fixtures>=4.0",
            "hypothesis>=6.90",
            "schemathesis>=4.0",
            "openapi-python-client>=0.21",
        ],
    },
    entry_points={
        "console_scripts": ["rotest = rotest_core.cli:main"],
        "rotest.result_handlers": [
            "dots = rotest_core.console:DotsHandler",
            "tree = rotest_core.console:TreeHandler",
            "full = rotest_core.console:FullHandler",
            "loginfo = reports.console:LogInfoHandler",
            "logdebug = reports.console:LogDebugHandler",
            "pretty = reports.console:PrettyHandler",
            "progress = reports.console:ProgressHandler",
            "junit = reports.junit:JUnitHandler",
            "xml = reports.junit:JUnitHandler",
            "excel = reports.excel:ExcelHandler",
            "html = reports.html:HtmlHandler",
            "history = reports.history:HistoryHandler",
            "db = reports.history:HistoryHandler",
            "remote = reports.history:HistoryHandler",
            "artifact = reports.artifact:ArtifactHandler",
            "signature = reports.signature:SignatureHandler",
            "journal = reports.journal:JournalHandler",
        ],
    },
)
