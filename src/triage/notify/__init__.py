"""Notify people and organisations: server-sent events per user, signed webhooks per
organisation."""
