"""
Django's own error views (handler400/403/404/500 and the CSRF failure view).

On API paths they answer JSON in the API's error shape, so a client never has to parse an HTML
error page; elsewhere (the admin) Django's usual pages are kept.
"""

from django.http import JsonResponse
from django.views import defaults
from django.views.csrf import csrf_failure as django_csrf_failure

from config.exceptions import error_body


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def _json(code: str, detail: str, status: int) -> JsonResponse:
    return JsonResponse(error_body(code, detail), status=status)


def bad_request(request, exception, template_name="400.html"):
    if _is_api(request):
        return _json("bad_request", "The request could not be understood.", 400)
    return defaults.bad_request(request, exception, template_name)


def permission_denied(request, exception, template_name="403.html"):
    if _is_api(request):
        return _json("permission_denied", "You do not have permission to do this.", 403)
    return defaults.permission_denied(request, exception, template_name)


def page_not_found(request, exception, template_name="404.html"):
    if _is_api(request):
        return _json("not_found", "Not found.", 404)
    return defaults.page_not_found(request, exception, template_name)


def server_error(request, template_name="500.html"):
    if _is_api(request):
        return _json("server_error", "Something went wrong on our side; it has been logged.", 500)
    return defaults.server_error(request, template_name)


def csrf_failure(request, reason=""):
    if _is_api(request):
        return _json(
            "csrf_failed", "CSRF verification failed; send the CSRF token or use a token.", 403
        )
    return django_csrf_failure(request, reason=reason)
