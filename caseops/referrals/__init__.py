"""Closed-loop referrals between agencies (issue 17): the pure state machine
(``machine``), the consent gate (``gate``), the tables (``models``), the service that
moves them (``service``), and its API (``routes``)."""
