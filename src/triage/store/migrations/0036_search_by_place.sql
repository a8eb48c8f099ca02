-- A search by surname without a birth date also finds people reported without a fixed
-- address (their surname's sound with the woonplaats, 'w:' keys, households/keys.py): by
-- prefix, as the 'n:' keys are. Only meldingen without an address write these: small.
CREATE INDEX match_keys_place_prefix ON match_keys (key text_pattern_ops) WHERE key LIKE 'w:%';
