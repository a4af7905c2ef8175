"""Consent domain package: pure Python, no Flask or caseops imports."""
