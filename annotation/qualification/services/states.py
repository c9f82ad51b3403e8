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
from collections.abc import Sequence

from django.db import transaction
from django.utils import timezone

from annotation.models import User
from humanbeauty.errors import ApplicationError, ConflictError

from ..models import Attempt, Enrollment, Protocol, Transition
from .bulk import update_rows

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
    return enrollment_transition_many(
        moves=[(enrollment, to_state, reason)], actor=actor, admin=admin, now=now
    )[0]


Move = tuple[Enrollment, str, str]  # (enrollment, to state, reason)


@transaction.atomic
def enrollment_transition_many(
    *,
    moves: Sequence[Move],
    actor: User | None = None,
    admin: bool = False,
    now: dt.datetime | None = None,
) -> list[Enrollment]:
    """Bulk path of :func:`enrollment_transition` (which is this with one move): lock the enrollments (in id
    order), check every move, write them all, void the open attempts of those leaving the exam states and
    log one ``Transition`` each. All or nothing: the first illegal move raises and nothing is written.
    Returns the locked rows in the order of ``moves``; each given instance is refreshed from its row."""
    if not moves:
        return []
    ids = [e.pk for e, _, _ in moves]
    if len(set(ids)) != len(ids):
        raise ApplicationError("At most one transition per volunteer in one call.")
    locked = {e.pk: e for e in Enrollment.objects.select_for_update().filter(pk__in=ids).order_by("id")}
    rows = [locked[pk] for pk in ids]
    transition_locked(
        moves=[(row, to_state, reason) for row, (_, to_state, reason) in zip(rows, moves, strict=True)],
        actor=actor,
        admin=admin,
        now=now,
    )
    for (given, _, _), row in zip(moves, rows, strict=True):
        if given is not row:  # as refresh_from_db(), without reading the row again
            for field in Enrollment._meta.concrete_fields:
                setattr(given, field.attname, getattr(row, field.attname))
    return rows


def transition_locked(
    *,
    moves: Sequence[Move],
    actor: User | None = None,
    admin: bool = False,
    now: dt.datetime | None = None,
    extra_fields: Sequence[str] = (),
) -> None:
    """:func:`enrollment_transition_many` for enrollments the caller has already locked (``select_for_update``
    in this transaction, fresh from the database) and may have changed in ``extra_fields``, written with the
    state in the same statement. The services' cohort paths call this directly."""
    now = now or timezone.now()
    for enrollment, to_state, _ in moves:
        if not transition_allowed(from_state=enrollment.state, to_state=to_state, admin=admin):
            raise ConflictError(
                f"A volunteer who is {enrollment.get_state_display().lower()} cannot become "
                f"{S(to_state).label.lower()}.",
                extra={"code": "illegal_transition", "from": enrollment.state, "to": to_state},
            )
    fields = {"state", "updated_at", *extra_fields}
    log: list[Transition] = []
    leaving: list[int] = []
    stamp = timezone.now()  # updated_at is the clock, as save() sets it
    for enrollment, to_state, reason in moves:
        log.append(
            Transition(
                enrollment=enrollment,
                from_state=enrollment.state,
                to_state=to_state,
                reason=reason[:500],
                actor=actor,
            )
        )
        enrollment.state = to_state
        enrollment.updated_at = stamp
        if to_state == S.CERTIFIED:
            enrollment.certified_at = now
            enrollment.monitor_status = Enrollment.Monitor.OK
            enrollment.monitor_mae = None
            fields |= {"certified_at", "monitor_status", "monitor_mae"}
        elif to_state == S.EXITED:
            enrollment.exited_at = now
            fields.add("exited_at")
        if to_state not in ATTEMPT_STATES:
            leaving.append(enrollment.pk)
    update_rows(Enrollment, [e for e, _, _ in moves], sorted(fields))
    if leaving:
        Attempt.objects.filter(enrollment_id__in=leaving, status=Attempt.Status.OPEN).update(
            status=Attempt.Status.VOID, submitted_at=now
        )
    Transition.objects.bulk_create(log)


@transaction.atomic
def enrollment_create(
    *, user: User, protocol: Protocol | None, actor: User | None = None, reason: str = "invited"
) -> Enrollment:
    """Enroll ``user`` (a volunteer) as *invited*; 409 if the volunteer is already enrolled."""
    return enrollment_create_many(users=[user], protocol=protocol, actor=actor, reason=reason)[0]


@transaction.atomic
def enrollment_create_many(
    *, users: Sequence[User], protocol: Protocol | None, actor: User | None = None, reason: str = "invited"
) -> list[Enrollment]:
    """:func:`enrollment_create` for several volunteers (all or nothing): one check, two inserts."""
    for user in users:
        if user.role != User.Role.VOLUNTEER:
            raise ApplicationError(
                "Only volunteers take part in qualification.", extra={"user": user.username}
            )
    enrolled = (
        set(Enrollment.objects.filter(user__in=users).values_list("user_id", flat=True)) if users else set()
    )
    for user in users:
        if user.pk in enrolled:
            raise ConflictError(f"{user.username} is already enrolled.", extra={"code": "already_enrolled"})
    enrollments = Enrollment.objects.bulk_create(
        Enrollment(user=user, protocol=protocol, state=S.INVITED) for user in users
    )
    Transition.objects.bulk_create(
        Transition(enrollment=enrollment, from_state="", to_state=S.INVITED, reason=reason, actor=actor)
        for enrollment in enrollments
    )
    return enrollments


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
