"""Security tests: cross-agency matrices and hidden-is-unknown regressions (issue 14).

Shared builders live in ``tests/fixtures/`` so other packages can reuse them. pytest
refuses ``pytest_plugins`` outside the root conftest, so the fixtures are re-exported
here by import instead.
"""

from tests.fixtures.worlds import matrix_app, matrix_client, matrix_world  # noqa: F401
