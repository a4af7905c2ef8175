"""Events pushed to the people they concern (issue 18): ``publish`` writes a notification
in the caller's transaction; the stream and the list read them back for their recipient."""
