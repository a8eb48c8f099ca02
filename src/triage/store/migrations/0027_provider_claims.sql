-- People who log in through the identity provider (auth/oidc.py): the issue time of the
-- claims last applied to their account, so that an older token, still valid, cannot set
-- back a role or gebied that newer claims changed. Their subject (oidc_subject) is now
-- the issuer and the provider's "sub" together: a sub is unique at one issuer only.
ALTER TABLE users ADD COLUMN oidc_claims_at timestamptz;
