from django.apps import AppConfig


class QualificationConfig(AppConfig):
    name = "annotation.qualification"
    label = "qualification"
    verbose_name = "Qualification (gold bank, protocol, rounds, exams)"
