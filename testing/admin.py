"""Helpers for tests that drive the admin with Django's test client."""

from django.forms import MultiWidget


def form_data(response) -> dict:
    """The POST a browser sends back for the change form as rendered (inlines included)."""
    forms = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        forms += [inline.formset.management_form, *inline.formset.forms]
    data = {}
    for form in forms:
        for field in form:
            value = field.value()
            if value is None or value is False:
                continue
            widget = field.field.widget
            if isinstance(widget, MultiWidget):
                parts = widget.decompress(value) if not isinstance(value, list) else value
                for suffix, part in zip(widget.widgets_names, parts, strict=False):
                    if part is not None:
                        data[field.html_name + suffix] = part
                continue
            data[field.html_name] = "on" if value is True else value
    return data
