"""Tasks on a client: coordination data of one agency (issue 18)."""
