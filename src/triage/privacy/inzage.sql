-- name: persons_by_bsn
SELECT p.id, p.melding_id, p.role, p.bsn, p.voornaam, p.tussenvoegsel, p.achternaam,
       p.geboortedatum
  FROM persons p
 WHERE p.bsn = $1
 ORDER BY p.melding_id, p.position;

-- name: persons_by_name
-- Surname (with or without tussenvoegsel written into it), first name and birth date, all
-- as given, case aside: an export goes to the person who asked, so a near match is not
-- enough (that would be another person's file).
SELECT p.id, p.melding_id, p.role, p.bsn, p.voornaam, p.tussenvoegsel, p.achternaam,
       p.geboortedatum
  FROM persons p
 WHERE lower(p.achternaam) = lower($1) AND p.geboortedatum = $2
   AND lower(p.voornaam) = lower($3)
 ORDER BY p.melding_id, p.position;

-- name: corrections
SELECT person_id, at, field, old_value, new_value, reason
  FROM person_corrections WHERE person_id = ANY ($1::uuid[]) ORDER BY id;

-- name: meldingen
SELECT m.id, m.case_id, m.source, m.received_at, m.kind, m.category, m.signals, m.summary,
       m.postcode, m.huisnummer, m.toevoeging, m.straat, m.woonplaats, m.gebied, m.status,
       m.urgency_level, m.urgency_reasons, m.first_contact_at
  FROM meldingen m
 WHERE m.id = ANY ($1::uuid[])
 ORDER BY m.received_at, m.id;

-- name: assignments
SELECT melding_id, specialist, state, offered_at, answered_at
  FROM assignments WHERE melding_id = ANY ($1::uuid[]) ORDER BY offered_at;

-- name: cases
SELECT c.id, c.status, c.gebied, c.opened_at, c.closed_at, c.lead
  FROM cases c WHERE c.id = ANY ($1::uuid[]) ORDER BY c.opened_at;

-- name: access
-- Who (by role) did what with these meldingen and cases, and when: the recipients of the
-- data (AVG art. 15(1)(c)). The people's names are not the requester's to know.
SELECT at, actor_role, action, melding_id, case_id, result
  FROM audit_log
 WHERE melding_id = ANY ($1::uuid[]) OR case_id = ANY ($2::uuid[])
 ORDER BY id
 LIMIT 5000;

-- name: audit
-- The export itself, once per melding and case it disclosed, with the request's reason.
INSERT INTO audit_log (at, actor_kind, actor_id, actor_role, action, melding_id, case_id,
                       endpoint, request_id, reason)
SELECT $1, 'user', $2, $3, 'person.inzage', m.melding_id, m.case_id, $6, $7, $8
  FROM unnest($4::uuid[], $5::uuid[]) AS m (melding_id, case_id);
