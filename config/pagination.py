"""Page-number pagination whose query parameters are what the schema says they are: whole
numbers from 1, or empty for the default. Anything else is 400 (DRF's own pagination would
quietly fall back to the first page or the default size, or answer 404 for `page=abc`); a page
past the last is 404."""

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination

# Longer numbers are past any page there is; int() of thousands of digits is refused anyway.
_MAX_DIGITS = 18


class StandardPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    last_page_strings = ()  # "page=last" is not a whole number: the schema could not say it
    page_query_description = "A page number, from 1 (a page past the last is 404)."
    page_size_query_description = (
        f"Results per page, from 1 (default {page_size}); more than {max_page_size} gives "
        f"{max_page_size}."
    )

    def get_page_size(self, request):
        size = _whole_number(request, self.page_size_query_param)
        return self.page_size if size is None else min(size, self.max_page_size)

    def get_page_number(self, request, paginator):
        number = _whole_number(request, self.page_query_param)
        return 1 if number is None else number

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"]["minimum"] = 1
            parameter["allowEmptyValue"] = True  # "?page=" is the first page, as in DRF
        return parameters


def _whole_number(request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit()) or not raw.strip("0"):
        raise ValidationError({name: ["Give a whole number from 1."]})
    return int(raw) if len(raw) <= _MAX_DIGITS else 10**_MAX_DIGITS
