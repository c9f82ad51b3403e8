"""Protocols, rounds and invitations (the cohort)."""

from __future__ import annotations

import csv
import io
import secrets
from collections.abc import Sequence
from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models.functions import Lower
from django.utils import timezone

from annotation.models import Standard, User
from humanbeauty.errors import ApplicationError, ConflictError, NotFoundError

from ..models import Enrollment, Invitation, Protocol, Round
from .bulk import update_rows
from .states import enrollment_create, enrollment_create_many, transition_locked

PROTOCOL_FIELDS = (
    "name", "cohort", "max_mae", "min_mean_srcc", "max_abs_bias", "n_iterations", "n_training", "n_scored",
    "n_warmup", "retake_delay", "max_attempts", "n_retraining", "hidden_gold_share", "hidden_gold_window", "warn_margin",
    "suspend_margin", "recertification_interval", "is_active",
)  # fmt: skip


@transaction.atomic
def protocol_create(*, standard: Standard, created_by: User | None = None, **params: Any) -> Protocol:
    unknown = set(params) - set(PROTOCOL_FIELDS)
    if unknown:
        raise ApplicationError(f"Unknown protocol parameters: {', '.join(sorted(unknown))}.")
    protocol = Protocol(standard=standard, created_by=created_by, **params)
    protocol.full_clean()
    protocol.save()
    return protocol


@transaction.atomic
def protocol_update(*, protocol: Protocol, **params: Any) -> Protocol:
    unknown = set(params) - set(PROTOCOL_FIELDS)
    if unknown:
        raise ApplicationError(f"Unknown protocol parameters: {', '.join(sorted(unknown))}.")
    for key, value in params.items():
        setattr(protocol, key, value)
    protocol.full_clean()
    protocol.save(update_fields=[*params.keys()] if params else None)
    return protocol


@transaction.atomic
def round_open(*, protocol: Protocol, actor: User | None = None) -> Round:
    """Open the next round. Round 1 is for everybody invited; round N > 1 is for those who passed round N−1
    (they were moved to round N when they passed) and needs round N−1 to be closed."""
    Protocol.objects.select_for_update().get(pk=protocol.pk)
    last = protocol.rounds.order_by("-number").first()
    if last is not None and last.status == Round.Status.OPEN:
        raise ConflictError(
            f"Round {last.number} is still open; close it first.", extra={"round": last.number}
        )
    number = (last.number + 1) if last else 1
    if number > protocol.n_iterations:
        raise ConflictError(
            f"This protocol has {protocol.n_iterations} round(s); all have been run.", extra={"round": number}
        )
    return Round.objects.create(protocol=protocol, number=number)


@transaction.atomic
def round_close(*, round: Round, actor: User | None = None) -> dict[str, int]:
    """Close a round. Volunteers of this round who have not passed it exit the protocol; an exam they have
    open is voided (it can no longer be submitted)."""
    locked = Round.objects.select_for_update().get(pk=round.pk)
    if locked.status == Round.Status.CLOSED:
        raise ConflictError(f"Round {locked.number} is already closed.")
    locked.status = Round.Status.CLOSED
    locked.closed_at = timezone.now()
    locked.save(update_fields=["status", "closed_at"])
    pending = Enrollment.objects.filter(
        protocol=locked.protocol,
        round_number=locked.number,
        rounds_passed__lt=locked.number,
        certified_at__isnull=True,  # re-qualifying raters are past the rounds
        state__in=[
            Enrollment.State.INVITED,
            Enrollment.State.TRAINING,
            Enrollment.State.EXAM,
            Enrollment.State.RETRAINING,
        ],
    )
    # Locked (and re-checked by PostgreSQL after any wait): a volunteer passing right now is not exited.
    leaving = list(pending.select_for_update().order_by("id"))
    transition_locked(
        moves=[
            (e, Enrollment.State.EXITED, f"round {locked.number} closed before it was passed")
            for e in leaving
        ],
        actor=actor,
    )
    exited = len(leaving)
    round.refresh_from_db()
    return {"round": locked.number, "exited": exited}


def invitations_from_csv(*, text: str) -> list[dict[str, str]]:
    """CSV with an ``email`` column and an optional ``name`` column (header row required)."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    if not reader.fieldnames or "email" not in [f.strip().lower() for f in reader.fieldnames]:
        raise ApplicationError("The CSV needs a header row with an 'email' column (and optionally 'name').")
    rows = []
    for raw in reader:
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
        rows.append({"email": row.get("email", ""), "name": row.get("name", "")})
    return rows


@transaction.atomic
def invitation_create_bulk(
    *, protocol: Protocol, people: list[dict[str, str]], created_by: User | None = None
) -> list[Invitation]:
    """One invitation (with a fresh token) per person; people already invited to this protocol are skipped."""
    existing = set(Invitation.objects.filter(protocol=protocol).values_list("email", flat=True))
    new: list[Invitation] = []
    for i, person in enumerate(people, start=1):
        email = (person.get("email") or "").strip().lower()
        if email:
            try:
                validate_email(email)
            except ValidationError as exc:
                raise ApplicationError(f"Row {i}: {email!r} is not a valid e-mail address.") from exc
            if email in existing:
                continue
            existing.add(email)
        new.append(
            Invitation(
                protocol=protocol,
                email=email,
                name=(person.get("name") or "")[:200],
                token=secrets.token_urlsafe(24),
                created_by=created_by,
            )
        )
    return Invitation.objects.bulk_create(new, batch_size=500)


def invitation_get(*, token: str) -> Invitation:
    invitation = Invitation.objects.select_related("protocol").filter(token=token).first()
    if invitation is None:
        raise NotFoundError("This invitation link is not valid.")
    return invitation


def invitation_accept(*, token: str, username: str, password: str | None) -> User:
    """Create the volunteer account of an invitation and enroll it (state *invited*).

    ``password=None`` leaves an unusable password (used by the simulation, which never signs in).
    """
    return invitation_accept_many(accepts=[(token, username, password)])[0]


@transaction.atomic
def invitation_accept_many(*, accepts: Sequence[tuple[str, str, str | None]]) -> list[User]:
    """:func:`invitation_accept` for several ``(token, username, password)`` at once (a cohort joining,
    the simulation), same checks in the same order for each, all or nothing: the invitations locked in
    one statement, the usernames checked in one, one insert of the accounts, one update of the
    invitations, then :func:`enrollment_create_many`. Returns the accounts in the order given."""
    if not accepts:
        return []
    invitations = {
        inv.token: inv
        for inv in Invitation.objects.select_for_update(of=("self",))
        .select_related("protocol")
        .filter(token__in=[t for t, _, _ in accepts])
        .order_by("id")
    }
    names = [(u or "").strip() for _, u, _ in accepts]
    taken = set(
        User.objects.annotate(lower=Lower("username"))
        .filter(lower__in=[n.lower() for n in names if n])
        .values_list("lower", flat=True)
    )
    users: list[User] = []
    chosen: list[Invitation] = []
    used: set[int] = set()
    for (token, _, password), username in zip(accepts, names, strict=True):
        invitation = invitations.get(token)
        if invitation is None:
            raise NotFoundError("This invitation link is not valid.")
        if invitation.user_id is not None or invitation.pk in used:  # used before, or twice in this call
            raise ConflictError("This invitation has already been used.", extra={"code": "invitation_used"})
        if not invitation.protocol.is_active:
            raise ConflictError("This protocol is closed to new volunteers.")
        if not username:
            raise ApplicationError("Choose a username.", extra={"fields": {"username": ["Required."]}})
        if username.lower() in taken:
            raise ConflictError("That username is taken.", extra={"fields": {"username": ["Taken."]}})
        taken.add(username.lower())
        user = User(
            username=username, email=invitation.email, first_name=invitation.name[:150], role="volunteer"
        )
        if password is None:
            user.set_unusable_password()
        else:
            try:
                validate_password(password, user=user)
            except ValidationError as exc:
                raise ApplicationError(exc.messages[0], extra={"fields": {"password": exc.messages}}) from exc
            user.set_password(password)
        users.append(user)
        chosen.append(invitation)
        used.add(invitation.pk)
    try:
        with transaction.atomic():
            User.objects.bulk_create(users)
    except IntegrityError as exc:
        raise ConflictError("That username is taken.") from exc
    now = timezone.now()
    for invitation, user in zip(chosen, users, strict=True):
        invitation.user = user
        invitation.accepted_at = now
    update_rows(Invitation, chosen, ["user", "accepted_at"])
    by_protocol: dict[int, list[User]] = {}
    for invitation, user in zip(chosen, users, strict=True):
        by_protocol.setdefault(invitation.protocol_id, []).append(user)
    for invitation in {inv.protocol_id: inv for inv in chosen}.values():
        enrollment_create_many(
            users=by_protocol[invitation.protocol_id],
            protocol=invitation.protocol,
            reason="accepted invitation",
        )
    return users


def enrollment_invite_user(*, user: User, protocol: Protocol, actor: User | None = None) -> Enrollment:
    """Enroll an existing volunteer account directly (admins, demo)."""
    return enrollment_create(user=user, protocol=protocol, actor=actor, reason="invited by admin")
