"""Screens that stand on their own: the two-run compare app and the run summary panel."""
