"""Who is calling: API clients (one per source system) and user accounts with roles."""

from triage.auth.principal import Principal
from triage.auth.tokens import TokenAuthenticator, hash_token, new_token

__all__ = ["Principal", "TokenAuthenticator", "hash_token", "new_token"]
