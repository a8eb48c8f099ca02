-- A random key of this deployment, for digests that must not be reversible by someone who
-- reads Redis alone: the rate limiter keys a caller's address by HMAC with it (an address
-- is personal data, and the 2^32 IPv4 addresses are hashed in seconds without a key).
-- Every process of the deployment reads the same one; a copy of Redis without the
-- database cannot turn a key back into an address.
CREATE TABLE deployment_secret (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    key bytea NOT NULL CHECK (length(key) = 32)
);
INSERT INTO deployment_secret (key)
VALUES (decode(replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex'));
