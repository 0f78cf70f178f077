"""Settings profiles: ``dev`` (embedded default), ``prod`` and ``test``."""
