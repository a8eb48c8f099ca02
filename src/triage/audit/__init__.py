"""The audit log's integrity: a hash chain over its rows (seal.py)."""
