"""factory_boy factories for rows many tests need."""

from __future__ import annotations

import factory
from factory.django import DjangoModelFactory, Password

from annotation.models import User

TEST_PASSWORD = "pw-test-12345"


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User

    username = factory.Sequence(lambda n: f"user{n}")
    role = User.Role.VOLUNTEER
    password = Password(TEST_PASSWORD)
