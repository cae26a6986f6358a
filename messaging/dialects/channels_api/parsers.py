"""The canonical API's JSON parser.

DRF's JSONParser turns a ValueError into a 400 ParseError, but Python's json module
raises RecursionError for a deeply nested document (a body of 50,000 "[" fits well
within the size limit), which escaped as a 500. Nesting that deep is never a valid
request, so it is a parse error like any other.
"""

from rest_framework import exceptions, parsers


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError("JSON parse error - the document is nested too deeply.") from None
