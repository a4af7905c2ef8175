"""How caseops talks to its two databases: the differences between PostgreSQL and
SQLite (dialect.py, connect.py) and the machinery for bulk passes (bulk.py: COPY and
executemany; gcpause.py). The domain calls these small functions; nothing here knows
about clients, records or consents."""
