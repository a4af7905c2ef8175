"""The client's own pages (``/my``) and the access codes that open them (issue 19)."""
