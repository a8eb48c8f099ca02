-- Blocking keys are codes (a sound, a date, a postcode), never words to sort for a
-- reader: they compare byte by byte (collation "C") whatever the database's locale. An
-- ICU or glibc nl_NL collation made every key's comparison, and so each of the ten or so
-- keys a melding writes and the twenty it looks up, measurably slower.
--
-- Under "C" the primary key's index also serves the console's searches by prefix
-- ('n:<sound>|%', 'w:<sound>|%', 'a:<postcode>|<number>|%'), so the three partial
-- indexes that served them go: one index entry less for each dwelling, surname-with-
-- birth-date and place key written.
--
-- Changing the collation rebuilds the primary key's index (the rows stay as they are):
-- seconds at a million meldingen, with intake waiting on the table meanwhile.
DROP INDEX match_keys_name_prefix;
DROP INDEX match_keys_address_prefix;
DROP INDEX match_keys_place_prefix;
ALTER TABLE match_keys ALTER COLUMN key TYPE text COLLATE "C";
