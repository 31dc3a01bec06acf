"""The server API's errors: a status and ``{"error": <code>, "detail": <what to fix>}``."""

from __future__ import annotations

from starlette.responses import JSONResponse

from contract.protocol import ApiErrorCode


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: ApiErrorCode,
        detail: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        body = {"error": self.code, "detail": self.detail}
        return JSONResponse(body, status_code=self.status, headers=self.headers)


def bad_request(code: ApiErrorCode, detail: str) -> ApiError:
    return ApiError(400, code, detail)


def not_found(detail: str) -> ApiError:
    return ApiError(404, "not_found", detail)
