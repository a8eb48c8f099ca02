-- The two roles of a deployment, made once by the database's administrator (psql as a
-- superuser or the cloud provider's admin). Passwords: your own, in your secret store.
--
-- triage_owner owns the schema: `triage migrate` runs as it (TRIAGE_MIGRATION_DATABASE_URL)
-- and grants triage what the service needs. triage is the service's role
-- (TRIAGE_DATABASE_URL): it reads and writes the data, and may only add to the audit and
-- read it; not owning the tables, it cannot disable the triggers that refuse changes.
CREATE ROLE triage_owner LOGIN PASSWORD 'CHANGE-ME';
CREATE ROLE triage LOGIN PASSWORD 'CHANGE-ME';
-- UTF8: names and places are stored as written, and the migrations fold them with
-- normalize(), which only a UTF8 database has (0040).
CREATE DATABASE triage OWNER triage_owner ENCODING 'UTF8';
\connect triage
-- Only the owner creates objects in the schema (the default since PostgreSQL 15).
ALTER SCHEMA public OWNER TO triage_owner;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
