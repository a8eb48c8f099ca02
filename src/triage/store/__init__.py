"""The store: PostgreSQL connections, named SQL files and schema migrations."""
