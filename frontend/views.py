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
from annotation.selectors import job_list_for
from annotation.services.jobs import job_cancel, job_is_resumable, job_resume
from humanbeauty.errors import ApplicationError

from .dashboard import dashboard_panels

ViewFunc = Callable[..., HttpResponse]


class LoginView(auth_views.LoginView):
    template_name = "frontend/login.html"
    redirect_authenticated_user = True


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
        context["recent_jobs"] = Job.objects.order_by("-created_at")[:10]
    context["panels"] = dashboard_panels(user)
    return render(request, "frontend/dashboard.html", context)


@role_required("admin", "researcher")
def jobs(request: HttpRequest) -> HttpResponse:
    """The caller's jobs (admins: every job, with resume/cancel buttons for chunked jobs)."""
    rows = list(job_list_for(user=request.user).order_by("-created_at")[:100])
    for job in rows:
        job.can_resume = job_is_resumable(job) and job.status != Job.Status.PENDING
    return render(
        request, "frontend/jobs.html", {"jobs": rows, "job_actions": request.user.is_platform_admin}
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
