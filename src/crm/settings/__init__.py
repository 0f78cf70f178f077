"""Settings profiles: ``dev`` (embedded default), ``prod`` and ``test``. All read the environment."""
