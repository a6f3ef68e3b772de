"""Ward station: keeps its wards' signed, encrypted downtime packs."""

__version__ = "0.1.0"
