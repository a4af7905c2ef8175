"""Data sharing agreements between agencies (issue 22): recorded, accepted, amended, terminated."""
