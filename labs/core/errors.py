"""One exception type for every "your request was wrong" answer the labs give."""

from __future__ import annotations

# The error every Redis-backed lab answers (503) while its Redis does not answer.
REDIS_DOWN = "Redis is down"


class ApiError(Exception):
    """Raised inside a view; the app turns it into ``{"error": ..., "detail": ...}`` JSON."""

    def __init__(self, status: int, error: str, detail: str = "") -> None:
        super().__init__(f"{status} {error}: {detail}")
        self.status = status
        self.error = error
        self.detail = detail

    def body(self) -> dict[str, str]:
        body = {"error": self.error}
        if self.detail:
            body["detail"] = self.detail
        return body
