"""The access log is append-only: on PostgreSQL a trigger refuses any UPDATE
or DELETE of its rows, whatever the application (or a bug in it) does.
TRUNCATE stays possible for the database owner (the tests empty tables so)."""

from django.db import migrations

FORBID = """
CREATE FUNCTION accounts_accesslog_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the access log is append-only: %% refused', TG_OP;
END $$;
CREATE TRIGGER accounts_accesslog_append_only
    BEFORE UPDATE OR DELETE ON accounts_accesslog
    FOR EACH STATEMENT EXECUTE FUNCTION accounts_accesslog_append_only();
"""
ALLOW = """
DROP TRIGGER accounts_accesslog_append_only ON accounts_accesslog;
DROP FUNCTION accounts_accesslog_append_only();
"""


def forbid(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORBID)


def allow(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(ALLOW)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_ward_memberships_and_access_log")]
    operations = [migrations.RunPython(forbid, allow)]
