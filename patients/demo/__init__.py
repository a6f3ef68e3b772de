"""A deterministic demo hospital, produced as FHIR R4 resources and loaded
through the same importer as real feeds (never written as rows directly)."""
