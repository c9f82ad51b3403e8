"""The volunteer state machine: every state change goes through :func:`enrollment_transition` and is logged.

::

    invited → training → exam → certified | exited        (exam → training: round N < n_iterations passed)
    exam → retraining → exam                               (failed attempt, attempts left: targeted retraining)
    certified → suspended → requalifying → certified | exited
    requalifying → retraining → requalifying               (failed re-qualification, attempts left)

An attempt can be open only in ``exam`` or ``requalifying``: any other move voids it (``Attempt.Status.VOID``),
so an exam left open when its round closes or its volunteer leaves can no longer be submitted.

An admin may certify directly (experts, pilots) from any non-terminal state; ``exited`` is terminal.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from annotation.models import User
from humanbeauty.errors import ApplicationError, ConflictError

from ..models import Attempt, Enrollment, Protocol, Transition

S = Enrollment.State

TRANSITIONS: dict[str, frozenset[str]] = {
    S.INVITED: frozenset({S.TRAINING, S.EXITED}),
    S.TRAINING: frozenset({S.EXAM, S.EXITED}),
    S.EXAM: frozenset({S.CERTIFIED, S.TRAINING, S.RETRAINING, S.EXITED}),
    S.RETRAINING: frozenset({S.EXAM, S.REQUALIFYING, S.EXITED}),
    S.CERTIFIED: frozenset({S.SUSPENDED, S.EXITED}),
    S.SUSPENDED: frozenset({S.REQUALIFYING, S.EXITED}),
    S.REQUALIFYING: frozenset({S.CERTIFIED, S.RETRAINING, S.EXITED}),
    S.EXITED: frozenset(),
}
# Extra edges an admin may take (certify an expert or a pilot volunteer without an exam).
ADMIN_TRANSITIONS: dict[str, frozenset[str]] = {
    S.INVITED: frozenset({S.CERTIFIED}),
    S.TRAINING: frozenset({S.CERTIFIED}),
    S.EXAM: frozenset({S.CERTIFIED}),
    S.RETRAINING: frozenset({S.CERTIFIED}),
    S.SUSPENDED: frozenset({S.CERTIFIED}),
}
# States in which an exam attempt may be open.
ATTEMPT_STATES = frozenset({S.EXAM, S.REQUALIFYING})


def transition_allowed(*, from_state: str, to_state: str, admin: bool = False) -> bool:
    if to_state in TRANSITIONS.get(from_state, frozenset()):
        return True
    return admin and to_state in ADMIN_TRANSITIONS.get(from_state, frozenset())


@transaction.atomic
def enrollment_transition(
    *,
    enrollment: Enrollment,
    to_state: str,
    reason: str,
    actor: User | None = None,
    admin: bool = False,
    now: dt.datetime | None = None,
) -> Enrollment:
    """Move ``enrollment`` to ``to_state`` or raise ConflictError (409) naming the illegal transition.
    ``now``: the time of the event (default: the clock), e.g. an exam submitted with an explicit time."""
    locked = Enrollment.objects.select_for_update().get(pk=enrollment.pk)
    if not transition_allowed(from_state=locked.state, to_state=to_state, admin=admin):
        raise ConflictError(
            f"A volunteer who is {locked.get_state_display().lower()} cannot become "
            f"{S(to_state).label.lower()}.",
            extra={"code": "illegal_transition", "from": locked.state, "to": to_state},
        )
    now = now or timezone.now()
    fields = ["state", "updated_at"]
    from_state = locked.state
    locked.state = to_state
    if to_state == S.CERTIFIED:
        locked.certified_at = now
        locked.monitor_status = Enrollment.Monitor.OK
        locked.monitor_mae = None
        fields += ["certified_at", "monitor_status", "monitor_mae"]
    elif to_state == S.EXITED:
        locked.exited_at = now
        fields.append("exited_at")
    locked.save(update_fields=fields)
    if to_state not in ATTEMPT_STATES:
        Attempt.objects.filter(enrollment=locked, status=Attempt.Status.OPEN).update(
            status=Attempt.Status.VOID, submitted_at=now
        )
    Transition.objects.create(
        enrollment=locked, from_state=from_state, to_state=to_state, reason=reason[:500], actor=actor
    )
    enrollment.refresh_from_db()
    return locked


@transaction.atomic
def enrollment_create(
    *, user: User, protocol: Protocol | None, actor: User | None = None, reason: str = "invited"
) -> Enrollment:
    """Enroll ``user`` (a volunteer) as *invited*; 409 if the volunteer is already enrolled."""
    if user.role != User.Role.VOLUNTEER:
        raise ApplicationError("Only volunteers take part in qualification.", extra={"user": user.username})
    if Enrollment.objects.filter(user=user).exists():
        raise ConflictError(f"{user.username} is already enrolled.", extra={"code": "already_enrolled"})
    enrollment = Enrollment.objects.create(user=user, protocol=protocol, state=S.INVITED)
    Transition.objects.create(
        enrollment=enrollment, from_state="", to_state=S.INVITED, reason=reason, actor=actor
    )
    return enrollment


def volunteer_certify_by_admin(*, user: User, admin: User | None, reason: str) -> None:
    """Certify ``user`` without an exam (experts, pilots, demo); creates the enrollment if needed."""
    enrollment = Enrollment.objects.filter(user=user).first()
    if enrollment is None:
        enrollment = enrollment_create(user=user, protocol=None, actor=admin, reason="enrolled by admin")
    if enrollment.state == S.CERTIFIED:
        return
    enrollment_transition(
        enrollment=enrollment,
        to_state=S.CERTIFIED,
        reason=f"admin: {reason}".strip(),
        actor=admin,
        admin=True,
    )


def volunteer_exit_by_admin(*, user: User, admin: User | None, reason: str) -> None:
    enrollment = Enrollment.objects.filter(user=user).first()
    if enrollment is None:
        raise ApplicationError(f"{user.username} is not enrolled.", status=404)
    enrollment_transition(enrollment=enrollment, to_state=S.EXITED, reason=f"admin: {reason}", actor=admin)
