"""Qualification pages. Volunteer: status/training, exam, result, invitation link. Admin: protocols, one
protocol (rounds, invitations, funnel, volunteers), a volunteer's drill-down, the gold bank.

Thin: reads through selectors, writes through services (forms post here; the volunteer's training and
exam screens talk to /api/qualification/me/… from the browser with the shared rating widget).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import messages
from django.contrib.auth import login
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from annotation.models import Standard, User
from annotation.pass_rules import PASS_RULES
from annotation.qualification import selectors
from annotation.qualification.models import Attempt, Enrollment, Protocol, Round
from annotation.qualification.rule_serializers import pass_rule_errors, pass_rule_rows
from annotation.qualification.services import gold as gold_services
from annotation.qualification.services import protocols as protocol_services
from annotation.qualification.services import states
from annotation.selectors import default_standard
from humanbeauty.errors import ApplicationError

from .dashboard import register_panels
from .listing import paginate
from .views import role_required


def _dims(standard: Standard) -> list[dict[str, Any]]:
    return [
        {"key": d.key, "name": d.name, "parent": d.parent.key if d.parent else None, "order": d.order,
         "guideline": d.guideline, "low_anchor": d.low_anchor, "high_anchor": d.high_anchor}
        for d in standard.dimensions.select_related("parent").order_by("order")
    ]  # fmt: skip


def _standard_for(enrollment: Enrollment | None) -> Standard:
    if enrollment is not None and enrollment.protocol is not None:
        return enrollment.protocol.standard
    return default_standard()


# ------------------------------------------------------------------------------------------- volunteer


@role_required("volunteer")
def qualification(request: HttpRequest) -> HttpResponse:
    """Status + training (feedback after each image) + the way into the exam."""
    enrollment = selectors.enrollment_for(user=request.user)
    status = selectors.volunteer_status(user=request.user)
    dims = _dims(_standard_for(enrollment))
    focus = status.get("retraining_focus") or []
    focus_dims = sorted((d for d in dims if d["key"] in focus), key=lambda d: focus.index(d["key"]))
    return render(
        request,
        "frontend/qualification/volunteer.html",
        {"status": status, "dims": dims, "focus_dims": focus_dims},
    )


@role_required("volunteer")
def qualification_exam(request: HttpRequest) -> HttpResponse:
    enrollment = selectors.enrollment_for(user=request.user)
    if enrollment is None:
        raise Http404("Not enrolled.")
    return render(
        request,
        "frontend/qualification/exam.html",
        {"status": selectors.volunteer_status(user=request.user), "dims": _dims(_standard_for(enrollment))},
    )


@role_required("volunteer")
def qualification_result(request: HttpRequest, attempt_id: int) -> HttpResponse:
    attempt = get_object_or_404(
        Attempt, pk=attempt_id, enrollment__user=request.user, status=Attempt.Status.SUBMITTED
    )
    result = attempt.result
    keys = result.get("dimension_keys") or []
    names = dict(default_standard().dimensions.values_list("key", "name"))
    rows = [
        {"key": k, "name": names.get(k, k), "mae": (result.get("mae_per_dim") or [None] * len(keys))[i],
         "bias": (result.get("bias_per_dim") or [None] * len(keys))[i],
         "srcc": (result.get("srcc_per_dim") or [None] * len(keys))[i],
         "weak": k in (result.get("weak_dimension_keys") or []),
         # The reasons name a dimension as "<key>: ..." (its bias is beyond the limit): mark that row too.
         "reasons": [r.split(":", 1)[1].strip() for r in result.get("reasons") or [] if r.startswith(f"{k}:")]}
        for i, k in enumerate(keys)
    ]  # fmt: skip
    return render(
        request,
        "frontend/qualification/result.html",
        {
            "attempt": attempt,
            "result": result,
            "rows": rows,
            "status": selectors.volunteer_status(user=request.user),
        },
    )


@require_http_methods(["GET", "POST"])
def qualification_join(request: HttpRequest, token: str) -> HttpResponse:
    """The invitation link: choose a username and a password, then you are signed in as a volunteer."""
    try:
        invitation = protocol_services.invitation_get(token=token)
    except ApplicationError as exc:
        raise Http404(exc.message) from exc
    error = ""
    if request.method == "POST":
        password = request.POST.get("password", "")
        if password != request.POST.get("password2", ""):
            error = "The two passwords differ."
        else:
            try:
                user = protocol_services.invitation_accept(
                    token=token, username=request.POST.get("username", ""), password=password
                )
            except ApplicationError as exc:
                error = exc.message
            else:
                login(request, user, backend="django.contrib.auth.backends.ModelBackend")
                messages.success(request, "Welcome! Your account is ready; start with the training.")
                return redirect("frontend:qualification")
    return render(
        request,
        "frontend/qualification/join.html",
        {"invitation": invitation, "error": error, "form": request.POST},
    )


# ----------------------------------------------------------------------------------------------- admin


def _run(request: HttpRequest, action: Any, success: str) -> None:
    try:
        result = action()
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, success.format(result=result))


PROTOCOL_FORM_FIELDS = {
    "n_iterations": int,
    "n_training": int,
    "n_scored": int,
    "n_warmup": int,
    "max_attempts": int,
    "n_retraining": int,
    "hidden_gold_share": float,
}  # fmt: skip  (the pass rules are validated by PassRulesSerializer, as in the API)


class RuleFormError(ValueError):
    """Field-level messages of the pass rules, from the API's serializer."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {m}" for k, msgs in errors.items() for m in msgs))
        self.lines = [f"{k}: {m}" for k, msgs in errors.items() for m in msgs]


def _rule_fields(values: dict[str, Any]) -> list[dict[str, Any]]:
    """The form's pass-rule inputs, one per registered rule kind (label, bounds, meaning)."""
    return [
        {
            "kind": kind,
            "label": rule.label,
            "value": values.get(kind, rule.default),
            "min": rule.bounds[0],
            "max": rule.bounds[1],
            "help": f"Between {rule.bounds[0]:g} and {rule.bounds[1]:g}: {rule.explanation}",
        }
        for kind, rule in PASS_RULES.items()
    ]


def _pass_rules(data: Any) -> dict[str, float]:
    rules, errors = pass_rule_errors(data, blank_is_absent=True)
    if errors:
        raise RuleFormError(errors)
    return rules


def _protocol_params(post: Any) -> dict[str, Any]:
    """Parse the protocol form (blank fields keep their defaults / current values)."""
    params: dict[str, Any] = _pass_rules(post)
    for key in ("name", "cohort"):
        if post.get(key, "").strip():
            params[key] = post[key].strip()
    for key, cast in PROTOCOL_FORM_FIELDS.items():
        if post.get(key, "").strip():
            params[key] = cast(post[key])
    if post.get("retake_delay_hours", "").strip():
        params["retake_delay"] = dt.timedelta(hours=float(post["retake_delay_hours"]))
    if post.get("recertification_days", "").strip():
        days = float(post["recertification_days"])
        params["recertification_interval"] = dt.timedelta(days=days) if days > 0 else None
    return params


def _protocol_save(request: HttpRequest, protocol: Protocol | None) -> Protocol | None:
    try:
        params = _protocol_params(request.POST)
    except RuleFormError as exc:
        for line in exc.lines:
            messages.error(request, line)
        return None
    except ValueError:
        messages.error(request, "Protocol parameters must be numbers.")
        return None
    try:
        if protocol is None:
            standard = default_standard()
            protocol = protocol_services.protocol_create(standard=standard, created_by=request.user, **params)
        else:
            protocol = protocol_services.protocol_update(protocol=protocol, **params)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return None
    except ValidationError as exc:
        messages.error(request, "Invalid protocol: " + "; ".join(exc.messages))
        return None
    return protocol


@role_required("admin")
def admin_qualification(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        protocol = _protocol_save(request, None)
        if protocol is None:
            return redirect("frontend:admin-qualification")
        messages.success(request, f"Protocol “{protocol.name}” created.")
        return redirect("frontend:admin-qualification-protocol", protocol_id=protocol.pk)
    listing = paginate(
        request,
        selectors.protocol_list(),
        sorts={"created": ("created_at", "id")},
        default_sort="-created",
        per_page=20,
        label="Pages of protocols",
    )
    protocols = list(listing.page.object_list)
    funnels = selectors.protocol_funnels(protocols=protocols)
    rows = [{"protocol": p, "funnel": funnels[p.pk]} for p in protocols]
    coverage = selectors.gold_bank_coverage(standard=default_standard())
    return render(
        request,
        "frontend/qualification/admin_index.html",
        {"rows": rows, "listing": listing, "coverage": coverage, "rule_fields": _rule_fields({})},
    )


def _funnel_bars(funnel: dict[str, Any]) -> list[dict[str, Any]]:
    stages = [("Invited", funnel["invited"]), ("Joined", funnel["joined"])]
    for r in funnel["rounds"]:
        stages += [
            (f"Round {r['number']} entered", r["entered"]),
            (f"Round {r['number']} passed its exam", r["passed"]),
        ]
    # Admins can also certify directly (no exam), so "Certified" may exceed the last round's passes.
    stages += [("Certified (exam or admin)", funnel["certified"]), ("Exited", funnel["exited"])]
    top = max([n for _, n in stages] + [1])
    return [{"label": label, "n": n, "pct": round(100 * n / top, 1)} for label, n in stages]


WHATIF_FIELDS = {
    "n_iterations": int,
    "n_training": int,
    "n_scored": int,
    "max_attempts": int,
    "n_retraining": int,
}  # fmt: skip  (pass rules: PassRulesSerializer)


def _whatif(request: HttpRequest, protocol: Protocol) -> tuple[dict[str, Any] | None, str | None]:
    """The predicted funnel for the proposed parameters of the "what if" form (pure simulation, no writes)."""
    from annotation.qualification.services.simulation import protocol_predict

    try:
        overrides: dict[str, Any] = _pass_rules(request.GET)
    except RuleFormError as exc:
        return None, " ".join(exc.lines)
    try:
        for key, cast in WHATIF_FIELDS.items():
            if request.GET.get(key, "").strip():
                overrides[key] = cast(request.GET[key])
    except ValueError:
        return None, "Proposed parameters must be numbers."
    bad = [
        k
        for k, v in overrides.items()
        if v < 0 or (k in ("n_iterations", "n_scored", "max_attempts") and v < 1)
    ]
    if bad or overrides.get("n_iterations", 1) > 10 or overrides.get("max_attempts", 1) > 5:
        return None, "Proposed parameters are out of range: " + ", ".join(
            bad or ["rounds ≤ 10, attempts ≤ 5"]
        ) + "."
    try:
        volunteers = int(request.GET.get("volunteers") or 455)
    except ValueError:
        return None, "The number of volunteers must be a whole number."
    if not 10 <= volunteers <= 2000:
        return None, "Predict for 10 to 2000 volunteers."
    try:
        return protocol_predict(protocol=protocol, overrides=overrides, n_volunteers=volunteers), None
    except ApplicationError as exc:
        return None, exc.message


def _whatif_bars(result: dict[str, Any]) -> list[dict[str, Any]]:
    stages = [("Invited", result["invited"])]
    for r in result["rounds"]:
        stages += [(f"Round {r['round']} entered", r["entered"]), (f"Round {r['round']} passed", r["passed"])]
    stages += [("Qualified", result["qualified"]), ("Certified after the re-checks", result["certified"])]
    top = max([n for _, n in stages] + [1])
    return [{"label": label, "n": n, "pct": round(100 * n / top, 1)} for label, n in stages]


@role_required("admin")
def admin_protocol(request: HttpRequest, protocol_id: int) -> HttpResponse:
    protocol = get_object_or_404(Protocol, pk=protocol_id)
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "open-round":
            _run(request, lambda: protocol_services.round_open(protocol=protocol, actor=request.user),
                 "Round {result.number} is open.")  # fmt: skip
        elif action == "close-round":
            rnd = get_object_or_404(Round, pk=request.POST.get("round_id"), protocol=protocol)
            _run(request, lambda: protocol_services.round_close(round=rnd, actor=request.user),
                 "Round {result[round]} closed; {result[exited]} volunteer(s) exited.")  # fmt: skip
        elif action == "update":
            if _protocol_save(request, protocol) is not None:
                messages.success(request, "Protocol parameters saved.")
        elif action == "invite":
            upload = request.FILES.get("file")
            text = (
                upload.read().decode("utf-8-sig", errors="replace") if upload else request.POST.get("csv", "")
            )

            def invite() -> int:
                people = protocol_services.invitations_from_csv(text=text)
                return len(
                    protocol_services.invitation_create_bulk(
                        protocol=protocol, people=people, created_by=request.user
                    )
                )

            _run(request, invite, "{result} invitation(s) created.")
        return redirect("frontend:admin-qualification-protocol", protocol_id=protocol.pk)
    if request.GET.get("format") == "csv":
        response = HttpResponse(selectors.funnel_csv(protocol=protocol), content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="qualification-{protocol.pk}.csv"'
        return response
    funnel = selectors.protocol_funnel(protocol=protocol)
    current = {kind: getattr(protocol, kind) for kind in PASS_RULES}
    whatif, whatif_error = None, None
    if request.GET.get("whatif"):
        whatif, whatif_error = _whatif(request, protocol)
    return render(
        request,
        "frontend/qualification/admin_protocol.html",
        {
            "whatif": whatif,
            "whatif_error": whatif_error,
            "whatif_bars": _whatif_bars(whatif) if whatif else [],
            "protocol": protocol,
            "pass_rules": pass_rule_rows(current),
            "rule_fields": _rule_fields(current),
            "whatif_rule_fields": _rule_fields(
                {**current, **{k: request.GET[k] for k in PASS_RULES if request.GET.get(k)}}
            ),
            "rounds": protocol.rounds.order_by("number"),
            "funnel": funnel,
            "bars": _funnel_bars(funnel),
            "volunteers": selectors.volunteer_rows(protocol=protocol),
            "invitations": paginate(
                request,
                protocol.invitations.select_related("user"),
                sorts={"id": ("id",)},
                default_sort="-id",
                per_page=50,
                prefix="i",
                label="Pages of invitations",
            ),
            "n_invitations": protocol.invitations.count(),
        },
    )


@role_required("admin")
def admin_volunteer(request: HttpRequest, user_id: int) -> HttpResponse:
    user = get_object_or_404(User, pk=user_id)
    if request.method == "POST":
        reason = request.POST.get("reason", "").strip() or "admin decision"
        if request.POST.get("action") == "certify":
            _run(request, lambda: states.volunteer_certify_by_admin(user=user, admin=request.user, reason=reason),
                 "Certified.")  # fmt: skip
        elif request.POST.get("action") == "exit":
            _run(request, lambda: states.volunteer_exit_by_admin(user=user, admin=request.user, reason=reason),
                 "Exited.")  # fmt: skip
        return redirect("frontend:admin-qualification-volunteer", user_id=user.pk)
    try:
        detail = selectors.volunteer_detail(user=user)
    except ApplicationError as exc:
        raise Http404(exc.message) from exc
    return render(request, "frontend/qualification/admin_volunteer.html", {"detail": detail, "subject": user})


@role_required("admin")
def admin_gold(request: HttpRequest) -> HttpResponse:
    standard = default_standard()
    if request.method == "POST":
        upload = request.FILES.get("file")

        def do_import() -> dict[str, Any]:
            if upload is None:
                raise ApplicationError("Choose a CSV or JSON file.")
            text = upload.read().decode("utf-8-sig", errors="replace")
            is_json = upload.name.lower().endswith(".json")
            rows = (
                gold_services.gold_rows_from_json(text=text)
                if is_json
                else gold_services.gold_rows_from_csv(text=text)
            )
            files = {f.name: f.read() for f in request.FILES.getlist("images")}
            return gold_services.gold_bank_import(
                standard=standard, rows=rows, files=files, imported_by=request.user
            )

        _run(request, do_import, "Imported: {result[created]} new, {result[updated]} updated.")
        return redirect("frontend:admin-qualification-gold")
    coverage = selectors.gold_bank_coverage(standard=standard)
    top = max([c for d in coverage["dimensions"] for c in d["counts"]] + [1])
    for d in coverage["dimensions"]:
        d["bars"] = [{"n": c, "pct": round(100 * c / top, 1)} for c in d["counts"]]
    names = dict(standard.dimensions.values_list("key", "name"))
    for d in coverage["dimensions"]:
        d["name"] = names.get(d["key"], d["key"])
    items = paginate(
        request,
        selectors.gold_item_list(standard=standard),
        sorts={"id": ("id",)},
        default_sort="id",
        per_page=48,
        label="Pages of gold items",
    )
    return render(request, "frontend/qualification/admin_gold.html", {"coverage": coverage, "items": items})


# ---------------------------------------------------------------------------------------------- panels


@register_panels
def qualification_panels(user: User) -> list[dict[str, Any]]:
    if user.role == User.Role.VOLUNTEER:
        return [{"title": "Qualification", "key": "qualification", "template": "frontend/qualification/_panel_volunteer.html",
                 "context": {"status": selectors.volunteer_status(user=user)}}]  # fmt: skip
    if user.is_platform_admin:
        protocol = selectors.protocol_current()
        funnel = selectors.protocol_funnel(protocol=protocol) if protocol else None
        return [{"title": "Qualification", "key": "qualification", "template": "frontend/qualification/_panel_admin.html",
                 "context": {"protocol": protocol, "funnel": funnel,
                             "certified": selectors.certified_raters().count()}}]  # fmt: skip
    return []
