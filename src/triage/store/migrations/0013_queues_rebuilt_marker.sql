-- A row here says: the Redis queues were rebuilt from this database since it last
-- recovered from a crash (queue/reconcile.py). The table is unlogged, so PostgreSQL
-- empties it whenever it recovers from a crash (an immediate stop, a power loss, or a
-- single backend killed, after which the server reinitialises while its postmaster
-- lives on), and a promoted replica starts without the row: exactly the moments when
-- offers, which commit without waiting for the disk, may have been lost. A clean
-- restart keeps the row (it loses nothing).
CREATE UNLOGGED TABLE queues_rebuilt (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row)
);
