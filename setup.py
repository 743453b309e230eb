"""One distribution: the server (app), the runtime (rotest_core) and reports.

The repository keeps the designed layout (top-level app/, reports/, templates/,
migrations/), but installs them under names of the project's own, so that a
team's own ``app``, ``reports.py`` or ``migrations/`` beside them keep theirs:

    rotest_core          <- rotest_core/
    rotest_app           <- app/          (the server and the store)
    rotest_app.migrations <- migrations/  (the core's Alembic revisions)
    rotest_reports       <- reports/
    rotest_templates     <- templates/    (server pages and the HTML report)
"""
from setuptools import find_packages, setup

#: installed name -> folder in the repository
FOLDERS = {"rotest_core": "rotest_core", "rotest_app": "app",
           "rotest_app.migrations": "migrations", "rotest_reports": "reports",
           "rotest_templates": "templates"}


def packages() -> list[str]:
    """Every installed package: each folder of FOLDERS and its subpackages."""
    found = list(FOLDERS)
    for name, folder in FOLDERS.items():
        found += [f"{name}.{sub}" for sub in find_packages(folder)
                  if f"{name}.{sub}" not in FOLDERS]
    return found


setup(
    name="rotest-flask",
    version="0.1.0",
    description="Resource-oriented test framework: a lock server, a test runtime and reports",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=packages(),
    package_dir=FOLDERS,
    include_package_data=True,
    package_data={
        "rotest_app.api": ["openapi.json"],
        "rotest_app.migrations": ["*.ini", "*.mako", "versions/*.py"],
        "rotest_templates": ["**/*.html", "**/*.css", "**/*.js"],
    },
    install_requires=[
        "flask>=3.1",  # a request body limit per route (the inventory import)
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
        # Plain pytest tests lock resources too; -p no:rotest turns it off.
        "pytest11": ["rotest = rotest_core.pytest_plugin"],
        # rotest's commands beyond `run`, imported when used
        "rotest.commands": [
            "resources = rotest_core.inventory:resources",
            "shell = rotest_core.shell:shell",
            "report = rotest_reports.cli:report",
            "history = rotest_reports.cli:history",
            "db = rotest_app.cli:db_group",
            "users = rotest_app.cli:users",
            "tokens = rotest_app.cli:tokens",
            "server = rotest_app.cli:server",
        ],
        "rotest.result_handlers": [
            "dots = rotest_reports.console:DotsHandler",
            "tree = rotest_reports.console:TreeHandler",
            "full = rotest_reports.console:FullHandler",
            "loginfo = rotest_reports.console:LogInfoHandler",
            "logdebug = rotest_reports.console:LogDebugHandler",
            "pretty = rotest_reports.console:PrettyHandler",
            "progress = rotest_reports.console:ProgressHandler",
            "junit = rotest_reports.junit:JUnitHandler",
            "xml = rotest_reports.junit:JUnitHandler",
            "excel = rotest_reports.excel:ExcelHandler",
            "html = rotest_reports.html:HtmlHandler",
            "history = rotest_reports.history:HistoryHandler",
            "db = rotest_reports.history:HistoryHandler",
            "remote = rotest_reports.history:HistoryHandler",
            "artifact = rotest_reports.artifact:ArtifactHandler",
            "signature = rotest_reports.signature:SignatureHandler",
            "journal = rotest_reports.journal:JournalHandler",
        ],
    },
)
