"""Install the top-level folders under one namespace: stream/ -> distillguard.stream, and so on.

The repository keeps `stream/`, `models/`, `sinks/` and `migrations/` at its top level; installed,
they must not claim generic top-level names in site-packages. Everything else is in pyproject.toml.
"""

from setuptools import find_packages, setup

FOLDERS = ("stream", "models", "sinks", "migrations")

setup(
    packages=[f"distillguard.{p}" for p in find_packages(include=[f"{f}*" for f in FOLDERS])],
    package_dir={f"distillguard.{f}": f for f in FOLDERS},
    package_data={"distillguard.migrations": ["alembic.ini", "script.py.mako"]},
)
