"""Households: normalising addresses and identities, and recognising a known household."""
