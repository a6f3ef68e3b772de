-- The database work of one HL7 message (an A08 update) without Python: what
-- any listener on this machine pays at least, whatever its language.
-- Store (committed without waiting for the disk), then in one transaction
-- read the patient, the stay and the ward, write the patient and the stay,
-- mark the message applied and commit (waiting for the disk).
--
-- After bench/mllp.py has filled downtime_bench:
--   pgbench -h 127.0.0.1 -U postgres -n -M prepared -c 1 -T 10 \
--     -f bench/hl7_floor.sql downtime_bench
-- 9 round trips, one after the other, as bench/mllp.py's listener sends them.
\set p random(1, 1000)
INSERT INTO patients_inboundmessage (received_at, peer, raw, sender, control_id, digest, message_type, status, ack_code, error, outcome, attempts) VALUES (now(), 'floor', convert_to(repeat('MSH|^~&|EHR|GENERAL|DOWNTIME|', 8), 'UTF8'), '', '', 'floor', '', 'received', '', '', '', 0) RETURNING id, set_config('synchronous_commit', 'off', true) \gset
BEGIN;
SELECT * FROM patients_patient WHERE mrn_system = 'GENERAL' AND mrn = 'BM' || :p ORDER BY id LIMIT 1 FOR UPDATE;
SELECT * FROM patients_encounter WHERE source_type = 'Encounter' AND source_id = 'V' || :p;
SELECT * FROM patients_location WHERE kind IN ('ward', 'clinic') AND (code = 'W1' OR name = 'W1') ORDER BY kind, id;
UPDATE patients_patient SET received_at = now() WHERE mrn_system = 'GENERAL' AND mrn = 'BM' || :p;
UPDATE patients_encounter SET received_at = now() WHERE source_type = 'Encounter' AND source_id = 'V' || :p;
UPDATE patients_inboundmessage SET status = 'ignored', attempts = attempts + 1 WHERE id = :id;
COMMIT;
