"""Property: any sequence of requested transitions, by the volunteer's flow or by an admin, keeps the
volunteer in a legal state, refuses exactly the moves the protocol forbids, and logs exactly the
accepted ones with their actor.

The oracle is the protocol as docs/qualification.md draws it, written out here edge by edge; it does not
read the implementation's table (``TRANSITIONS``), so a wrong edge there fails this test."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from annotation.qualification.models import Enrollment, Transition
from annotation.qualification.services.states import enrollment_transition, transition_allowed
from humanbeauty.errors import ConflictError

STATES = ["invited", "training", "exam", "retraining", "certified", "suspended", "requalifying", "exited"]
# invited ──► training ──► exam ──► certified ──► suspended ──► requalifying ──► certified;
# exam ──► training (another round); a failed exam with attempts left ──► retraining on the failed dimensions
# ──► exam (the retake); a failed re-qualification ──► retraining ──► requalifying (its retake); every state
# but exited ──► exited.
FLOW = {
    ("invited", "training"),
    ("training", "exam"),
    ("exam", "certified"),
    ("exam", "training"),
    ("certified", "suspended"),
    ("suspended", "requalifying"),
    ("requalifying", "certified"),
    ("exam", "retraining"),
    ("retraining", "exam"),
    ("requalifying", "retraining"),
    ("retraining", "requalifying"),
} | {(state, "exited") for state in STATES if state != "exited"}
# An admin may also certify directly from invited, training, exam, retraining or suspended.
ADMIN_ONLY = {
    ("invited", "certified"),
    ("training", "certified"),
    ("exam", "certified"),
    ("retraining", "certified"),
    ("suspended", "certified"),
}


def oracle(from_state: str, to_state: str, *, admin: bool) -> bool:
    return (from_state, to_state) in FLOW or (admin and (from_state, to_state) in ADMIN_ONLY)


def test_the_states_are_the_documented_ones() -> None:
    assert sorted(Enrollment.State.values) == sorted(STATES)


@pytest.mark.parametrize("admin", [False, True])
def test_every_pair_against_the_oracle(admin: bool) -> None:
    for a, b in itertools.product(STATES, STATES):
        assert transition_allowed(from_state=a, to_state=b, admin=admin) is oracle(a, b, admin=admin), (a, b)


moves = st.lists(st.tuples(st.sampled_from(STATES), st.booleans()), min_size=1, max_size=10)


@pytest.mark.django_db
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(moves=moves)
def test_random_sequences_of_volunteer_and_admin_actions(make_user, moves: list[tuple[str, bool]]) -> None:
    from annotation.models import User
    from annotation.qualification.services.states import enrollment_create

    admin = User.objects.filter(username="prop-admin").first() or make_user("admin", username="prop-admin")
    user = User.objects.create(username=f"prop-{User.objects.count()}", role="volunteer")
    enrollment = enrollment_create(user=user, protocol=None)
    state = "invited"
    expected_log = [("", "invited", None)]
    for to_state, by_admin in moves:
        actor = admin if by_admin else None
        if oracle(state, to_state, admin=by_admin):
            enrollment_transition(
                enrollment=enrollment, to_state=to_state, reason="property", actor=actor, admin=by_admin
            )
            expected_log.append((state, to_state, actor.pk if actor else None))
            state = to_state
        else:
            with pytest.raises(ConflictError) as refused:
                enrollment_transition(
                    enrollment=enrollment, to_state=to_state, reason="property", actor=actor, admin=by_admin
                )
            assert refused.value.extra == {"code": "illegal_transition", "from": state, "to": to_state}
        enrollment.refresh_from_db()
        assert enrollment.state == state
    log = list(
        Transition.objects.filter(enrollment=enrollment)
        .order_by("pk")
        .values_list("from_state", "to_state", "actor_id")
    )
    assert log == expected_log
