"""Status codes and their reason phrases, as RFC 9110 §15 names them.

Pure: one table, the same on every Python.  ``http.HTTPStatus`` is not
used because its phrases follow the running interpreter (3.13 renamed 413,
416 and 422 to RFC 9110's names, so pages differed between versions).
"""

from __future__ import annotations

# RFC 9110 §15, and RFC 6585 §§3-5 for 428, 429 and 431.  A status not
# listed (a proxied backend may send one) gets its class's word.
REASONS: dict[int, str] = {
    100: "Continue",
    101: "Switching Protocols",
    200: "OK",
    201: "Created",
    202: "Accepted",
    203: "Non-Authoritative Information",
    204: "No Content",
    205: "Reset Content",
    206: "Partial Content",
    300: "Multiple Choices",
    301: "Moved Permanently",
    302: "Found",
    303: "See Other",
    304: "Not Modified",
    305: "Use Proxy",
    307: "Temporary Redirect",
    308: "Permanent Redirect",
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    409: "Conflict",
    410: "Gone",
    411: "Length Required",
    412: "Precondition Failed",
    413: "Content Too Large",
    414: "URI Too Long",
    415: "Unsupported Media Type",
    416: "Range Not Satisfiable",
    417: "Expectation Failed",
    421: "Misdirected Request",
    422: "Unprocessable Content",
    426: "Upgrade Required",
    428: "Precondition Required",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    505: "HTTP Version Not Supported",
}


def reason(status: int) -> str:
    """The RFC 9110 phrase for ``status``; a class word for one it does not name."""
    phrase = REASONS.get(status)
    if phrase is not None:
        return phrase
    return {1: "Informational", 2: "Success", 3: "Redirection", 4: "Client Error"}.get(
        status // 100, "Server Error"
    )
