-- name: meldingen
-- What recognition compares of each melding (its people and address), newest first,
-- for training the model. Personal data: read by the training command only, audited.
SELECT m.case_id, m.postcode, m.huisnummer, m.toevoeging, m.straat, m.woonplaats,
       coalesce(jsonb_agg(jsonb_build_object(
                    'bsn', p.bsn, 'voornaam', p.voornaam, 'tussenvoegsel', p.tussenvoegsel,
                    'achternaam', p.achternaam, 'geboortedatum', p.geboortedatum)
                ORDER BY p.position) FILTER (WHERE p.id IS NOT NULL), '[]') AS persons
  FROM meldingen m
  LEFT JOIN persons p ON p.melding_id = m.id
 WHERE m.received_at >= $1
 GROUP BY m.id
 ORDER BY m.received_at DESC, m.id
 LIMIT $2;

-- name: audit_training
-- The training read every melding's people: one entry says who did it and how many.
INSERT INTO audit_log (at, actor_kind, actor_id, actor_role, action, endpoint, request_id,
                       reason, detail)
VALUES ($1, 'system', NULL, 'admin', 'recognition.train', 'triage recognition train',
        $2, 'het herkenningsmodel schatten uit de eigen meldingen', $3);
