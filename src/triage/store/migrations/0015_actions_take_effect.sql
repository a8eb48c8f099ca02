-- People's actions take effect at once. An open offer can be withdrawn: its person was
-- marked absent or taken off the roster (routing/roster_changes.py), or its melding was
-- moved to another gebied (dispatch/manual.py). A warm handover passes the case's accepted
-- work to the new lead as assignments of their own (cases/handover.py), tier 'handover'.
ALTER TABLE assignments DROP CONSTRAINT assignments_state_check;
ALTER TABLE assignments ADD CONSTRAINT assignments_state_check
    CHECK (state IN ('offered', 'accepted', 'declined', 'expired', 'reassigned', 'closed',
                     'withdrawn'));
ALTER TABLE assignments DROP CONSTRAINT assignments_tier_check;
ALTER TABLE assignments ADD CONSTRAINT assignments_tier_check
    CHECK (tier IN ('continuity', 'network', 'backup', 'coordinator', 'operator', 'handover'));
