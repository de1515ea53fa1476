from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

# No request of the API nests deeper than a few levels (a booking: body, address or customer,
# add-on list). Far deeper bodies exist only to exhaust the recursion of whoever walks them.
MAX_DEPTH = 32


def _check(data) -> None:
    """Refuse NUL characters (PostgreSQL cannot store them in text) and nesting deeper than
    MAX_DEPTH. Walks the parsed body with its own stack, so no body can exhaust recursion."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                raise ParseError("Text may not contain NUL (\\u0000) characters.")
            continue
        if not isinstance(value, dict | list):
            continue
        if depth > MAX_DEPTH:
            raise ParseError(f"JSON may nest at most {MAX_DEPTH} levels deep.")
        if isinstance(value, dict):
            stack.extend((key, depth) for key in value)
            value = value.values()
        stack.extend((item, depth + 1) for item in value)


class StrictJSONParser(JSONParser):
    """JSON, minus what would fail later as a 500: NUL characters, which PostgreSQL cannot store
    in text, and bodies nested too deeply to walk (400 parse_error either way)."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError as exc:  # the json module's own recursion, at ~1,000 levels
            raise ParseError(f"JSON may nest at most {MAX_DEPTH} levels deep.") from exc
        _check(data)
        return data
