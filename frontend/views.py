"""Browser pages. Thin: they read through selectors and write through services, like the API."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from annotation.models import Standard, User
from annotation.selectors import job_list_for
from humanbeauty.security import client_ip, login_failed, login_refusal, login_succeeded

from .dashboard import dashboard_panels

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
    jobs = job_list_for(user=request.user).order_by("-created_at")[:100]
    return render(
        request, "frontend/jobs.html", {"jobs": jobs, "show_tracebacks": request.user.is_platform_admin}
    )
