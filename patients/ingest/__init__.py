"""The mirror's only writers: importers for FHIR R4 (and, later, HL7 v2)."""
