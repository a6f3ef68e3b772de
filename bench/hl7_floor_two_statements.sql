-- bench/hl7_floor.sql's work (an A08 update) in two statements instead of
-- seven: one read (the patient, locked, with the stay and the ward joined to
-- it) sent with BEGIN, then one write (the patient, the stay and the
-- message's inbox row, in a data-modifying WITH) sent with the COMMIT.
-- What a listener built that way would pay at least (README, bench/mllp.py).
--   pgbench -h 127.0.0.1 -U postgres -n -M prepared -c 1 -T 10 \
--     -f bench/hl7_floor_two_statements.sql downtime_bench
-- The inbox row is written with the apply here, not committed before it as
-- the listener does (bench/hl7_floor.sql's first statement adds that back).
\set p random(1, 1000)
\startpipeline
BEGIN;
SELECT p.id, p.source_hash, e.id, e.source_updated_at, e.bed_id, (SELECT id FROM patients_location WHERE kind IN ('ward', 'clinic') AND (code = 'W1' OR name = 'W1') ORDER BY kind, id LIMIT 1) FROM patients_patient p LEFT JOIN patients_encounter e ON e.source_type = 'Encounter' AND e.source_id = 'V' || :p WHERE p.mrn_system = 'GENERAL' AND p.mrn = 'BM' || :p FOR UPDATE OF p;
\endpipeline
\startpipeline
WITH stored AS (INSERT INTO patients_inboundmessage (received_at, peer, raw, sender, control_id, digest, message_type, status, ack_code, error, outcome, attempts) VALUES (now(), 'floor', convert_to(repeat('MSH|^~&|EHR|GENERAL|DOWNTIME|', 8), 'UTF8'), '', '', 'floor', '', 'ignored', '', '', '', 1) RETURNING id), person AS (UPDATE patients_patient SET received_at = now() WHERE mrn_system = 'GENERAL' AND mrn = 'BM' || :p RETURNING id), stay AS (UPDATE patients_encounter SET received_at = now() WHERE source_type = 'Encounter' AND source_id = 'V' || :p RETURNING id) SELECT (SELECT id FROM stored), (SELECT count(*) FROM person), (SELECT count(*) FROM stay);
COMMIT;
\endpipeline
