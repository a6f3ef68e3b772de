-- bench/hl7_floor.sql with the reads sent together and the writes sent with
-- the commit: 3 round trips instead of 9, the least a listener could do.
--   pgbench -h 127.0.0.1 -U postgres -n -M prepared -c 1 -T 10 \
--     -f bench/hl7_floor_pipelined.sql downtime_bench
\set p random(1, 1000)
INSERT INTO patients_inboundmessage (received_at, peer, raw, sender, control_id, digest, message_type, status, ack_code, error, outcome, attempts) VALUES (now(), 'floor', convert_to(repeat('MSH|^~&|EHR|GENERAL|DOWNTIME|', 8), 'UTF8'), '', '', 'floor', '', 'received', '', '', '', 0) RETURNING id, set_config('synchronous_commit', 'off', true) \gset
\startpipeline
BEGIN;
SELECT * FROM patients_patient WHERE mrn_system = 'GENERAL' AND mrn = 'BM' || :p ORDER BY id LIMIT 1 FOR UPDATE;
SELECT * FROM patients_encounter WHERE source_type = 'Encounter' AND source_id = 'V' || :p;
SELECT * FROM patients_location WHERE kind IN ('ward', 'clinic') AND (code = 'W1' OR name = 'W1') ORDER BY kind, id;
\endpipeline
\startpipeline
UPDATE patients_patient SET received_at = now() WHERE mrn_system = 'GENERAL' AND mrn = 'BM' || :p;
UPDATE patients_encounter SET received_at = now() WHERE source_type = 'Encounter' AND source_id = 'V' || :p;
UPDATE patients_inboundmessage SET status = 'ignored', attempts = attempts + 1 WHERE id = :id;
COMMIT;
\endpipeline
