"""Incident response built on the access log (issue 22): open, contain, scope, notify, close."""
