"""The web fixtures (app_env, world: the app with users per role) for the security tests."""

from tests.web.conftest import app_env, world  # noqa: F401
