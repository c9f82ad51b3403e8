from django.apps import AppConfig


class ScoringConfig(AppConfig):
    name = "annotation.scoring"
    label = "scoring"
    verbose_name = "Collection and scoring (campaigns, submissions, queue, ratings, MOS)"
