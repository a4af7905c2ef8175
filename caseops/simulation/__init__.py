"""Policy simulation (issue 19, items 5 to 8): what a user would see, what a policy change
would do, and golden decision suites; all from the live view's decision code
(``caseops.access.rules.decide_view``), never returning record contents."""
