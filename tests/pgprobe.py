"""Print a PostgreSQL URL for the test suite if a local server answers, else nothing."""

from __future__ import annotations

import getpass

import psycopg

CANDIDATES = [
    f"postgresql://{getpass.getuser()}@/postgres",
    "postgresql://postgres@127.0.0.1:5432/postgres",
]


def main() -> None:
    for url in CANDIDATES:
        try:
            with psycopg.connect(url, connect_timeout=2) as connection:
                connection.execute("SELECT 1")
        except psycopg.Error:
            continue
        print(url.replace("postgresql://", "postgresql+psycopg://", 1))
        return


if __name__ == "__main__":
    main()
