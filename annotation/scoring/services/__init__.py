"""Writes of the collection/scoring app, by subdomain: ``collection`` (campaigns, submissions, checks,
review), ``pool`` (adding images), ``queue`` (next image, leases), ``ratings`` (submit, per-image aggregates,
adaptive top-up), ``aggregation`` (full re-aggregation, rater quality, reliability)."""
