"""Browser pages. Thin: they read through selectors and write through services, like the API."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from annotation.models import Job, Standard, User
from annotation.selectors import job_kinds_for, job_list_for
from annotation.services.jobs import job_cancel, job_is_resumable, job_resume
from humanbeauty.errors import ApplicationError
from humanbeauty.security import client_ip, login_failed, login_refusal, login_succeeded

from .dashboard import dashboard_panels
from .listing import paginate

ViewFunc = Callable[..., HttpResponse]


class LoginView(auth_views.LoginView):
    """Sign-in page with the same password-guessing limits as the token API (``humanbeauty.security``):
    a refused attempt gets the form back with status 429, the reason and when to retry."""

    template_name = "frontend/login.html"
    redirect_authenticated_user = True

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        username, ip = str(request.POST.get("username", "")), client_ip(request)
        if refusal := login_refusal(username=username, ip=ip):
            form = self.get_form_class()(request)  # unbound: validating it would check the password
            response = self.render_to_response(self.get_context_data(form=form, throttled=refusal.message))
            response.status_code = 429
            response["Retry-After"] = str(refusal.retry_after)
            return response
        response = super().post(request, *args, **kwargs)
        if request.user.is_authenticated:
            login_succeeded(username=username)
        else:
            login_failed(username=username, ip=ip)
        return response


class LogoutView(auth_views.LogoutView):
    pass


def role_required(*roles: str) -> Callable[[ViewFunc], ViewFunc]:
    """Page decorator: signed in, and one of ``roles`` (superusers always pass); 403 otherwise."""

    def decorator(view: ViewFunc) -> ViewFunc:
        @wraps(view)
        @login_required
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not (request.user.is_superuser or request.user.role in roles):
                raise PermissionDenied("Your role cannot open this page.")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    user: User = request.user
    context: dict[str, object] = {"role": user.role, "standards": Standard.objects.order_by("key")}
    if user.is_platform_admin or user.role == User.Role.RESEARCHER:
        # The same jobs the API shows this user (researchers: their own).
        context["recent_jobs"] = job_list_for(user=user).order_by("-created_at")[:10]
        context["show_tracebacks"] = user.is_platform_admin
    context["panels"] = dashboard_panels(user)
    return render(request, "frontend/dashboard.html", context)


@role_required("admin", "researcher")
def jobs(request: HttpRequest) -> HttpResponse:
    """The caller's jobs (admins: every job, with resume/cancel buttons for chunked jobs)."""
    qs = job_list_for(user=request.user)
    status, kind = request.GET.get("status", ""), request.GET.get("kind", "")
    if status in Job.Status.values:
        qs = qs.filter(status=status)
    kinds = job_kinds_for(user=request.user)
    if kind in kinds:
        qs = qs.filter(kind=kind)
    listing = paginate(
        request,
        qs,
        sorts={"id": ("id",), "kind": ("kind", "id"), "status": ("status", "id")},
        default_sort="-id",
        filters=("status", "kind"),
        label="Pages of jobs",
    )
    for job in listing.page.object_list:
        job.can_resume = job_is_resumable(job) and job.status != Job.Status.PENDING
    return render(
        request,
        "frontend/jobs.html",
        {
            "jobs": listing.page.object_list,
            "listing": listing,
            # The live refresh redraws the newest jobs on the unfiltered first page; elsewhere it updates the
            # rows shown in place (a page of older jobs keeps its rows).
            "live_head": listing.page.number == 1 and listing.sort == "-id" and not (status or kind),
            "statuses": Job.Status.choices,
            "kinds": kinds,
            "job_actions": request.user.is_platform_admin,
            "show_tracebacks": request.user.is_platform_admin,
        },
    )


@require_POST
@role_required("admin")
def job_action(request: HttpRequest, job_id: int, action: str) -> HttpResponse:
    job = get_object_or_404(Job, pk=job_id)
    try:
        if action == "resume":
            job_resume(job=job)
            messages.success(request, f"Job {job.pk} ({job.kind}) queued again; only missing work is done.")
        else:
            job_cancel(job=job)
            messages.success(request, f"Job {job.pk} ({job.kind}) cancelled.")
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("frontend:jobs")
