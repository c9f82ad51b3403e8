"""Writes of the qualification app, by subdomain: ``states`` (the volunteer state machine), ``gold`` (the
expert gold bank), ``protocols`` (protocols, rounds, invitations), ``exams`` (training and exams),
``monitoring`` (hidden gold and re-certification)."""
