-- name: person
-- A person of a melding, with the case whose profile their data is part of.
SELECT p.id, p.melding_id, m.case_id, p.role, p.bsn, p.voornaam, p.tussenvoegsel,
       p.achternaam, p.geboortedatum
  FROM persons p
  JOIN meldingen m ON m.id = p.melding_id
 WHERE p.id = $1;

-- name: person_locked
SELECT id, bsn, voornaam, tussenvoegsel, achternaam, geboortedatum
  FROM persons WHERE id = $1 FOR UPDATE;

-- name: correct
UPDATE persons
   SET bsn = $2, voornaam = $3, tussenvoegsel = $4, achternaam = $5, geboortedatum = $6
 WHERE id = $1;

-- name: keep_old
-- What each changed field held, kept beside what it holds now (AVG art. 16: corrected,
-- and the history of the correction kept).
INSERT INTO person_corrections (person_id, at, field, old_value, new_value, reason, actor_id,
                                actor_role)
SELECT $1, $2, f.field, f.old_value, f.new_value, $6, $7, $8
  FROM unnest($3::text[], $4::text[], $5::text[]) AS f (field, old_value, new_value);

-- name: audit
INSERT INTO audit_log (at, actor_kind, actor_id, actor_role, action, melding_id, case_id,
                       endpoint, request_id)
VALUES ($1, 'user', $2, $3, 'person.correct', $4, $5, $6, $7);

-- name: corrections
SELECT at, field, old_value, new_value, reason
  FROM person_corrections WHERE person_id = $1 ORDER BY id;
