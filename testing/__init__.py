"""
What the tests build their data with, in one place: `testing.factories` (factory_boy factories
for every model a test makes, and `make_booking`). The named characters (two stations and the
people who work at them) are the fixtures of the root conftest.py.

Test-only code: no app imports it, and it is not part of the installed package (pyproject.toml
installs only the apps and config).
"""
