"""A version's predictions belong to the standard its model was built for."""

from __future__ import annotations

import pytest

from annotation.standards import artimuse
from modeling.configuration import HumanAesExpertConfig, ModelStandard
from modeling.models import ModelVersion
from modeling.selectors import prediction_standard

pytestmark = pytest.mark.django_db


def test_prediction_standard_follows_the_model_config():
    artimuse_config = HumanAesExpertConfig(standard=ModelStandard.from_spec(artimuse.spec())).to_dict()
    built_for = ModelVersion.objects.create(version="am-1", config=artimuse_config)
    assert prediction_standard(built_for).key == "artimuse-v1"
    hb = ModelVersion.objects.create(version="hb-1", config=HumanAesExpertConfig().to_dict())
    assert prediction_standard(hb).key == "humanbeauty-v1"
    named = ModelVersion.objects.create(
        version="named", config={**artimuse_config, "standard_key": "humanbeauty-v1"}
    )
    assert prediction_standard(named).key == "humanbeauty-v1"  # an explicit standard_key wins
