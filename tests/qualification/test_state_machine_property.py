"""Property: any sequence of requested transitions keeps the volunteer in a legal state, refuses exactly
the moves that are not in the table, and logs exactly the accepted ones."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from annotation.qualification.models import Enrollment, Transition
from annotation.qualification.services.states import TRANSITIONS, enrollment_transition, transition_allowed
from humanbeauty.errors import ConflictError

S = Enrollment.State


@pytest.mark.django_db
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(moves=st.lists(st.sampled_from(S.values), min_size=1, max_size=8))
def test_random_transition_sequences(make_user, moves: list[str]) -> None:
    from annotation.models import User
    from annotation.qualification.services.states import enrollment_create

    user = User.objects.create(username=f"prop-{User.objects.count()}", role="volunteer")
    enrollment = enrollment_create(user=user, protocol=None)
    state, accepted = S.INVITED, 1
    for to_state in moves:
        if transition_allowed(from_state=state, to_state=to_state):
            enrollment_transition(enrollment=enrollment, to_state=to_state, reason="property")
            state, accepted = to_state, accepted + 1
        else:
            with pytest.raises(ConflictError):
                enrollment_transition(enrollment=enrollment, to_state=to_state, reason="property")
        enrollment.refresh_from_db()
        assert enrollment.state == state
    log = list(Transition.objects.filter(enrollment=enrollment).values_list("from_state", "to_state"))
    assert len(log) == accepted
    assert all(b in TRANSITIONS[a] for a, b in log[1:])
    assert all(log[i][1] == log[i + 1][0] for i in range(len(log) - 1))  # an unbroken chain
