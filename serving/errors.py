"""A request that cannot be answered, and the HTTP status it gets."""

from rnnkit.templates.errors import RnnkitError


class RequestError(RnnkitError):
    """A bad request (400), or one for a model, version or signature that is
    not served (404). Its text is the response's `{"error": ...}`."""

    def __init__(self, message, status=400):
        super().__init__(message)
        self.status = status


def not_found(message):
    return RequestError(message, status=404)
