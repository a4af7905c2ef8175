"""Notes on a client: sections of the author's agency in a category (issue 18)."""
