"""GraphQL errors that say whose fault they are: `extensions.code` as Apollo names them.

A service error (bad input, no key, wrong scope, not found) keeps its message and gets its
code; anything else is masked as `internal error` (its message may hold data) with
INTERNAL_SERVER_ERROR, and logged by type only. Validation and syntax errors are coded too.
"""

from __future__ import annotations

from collections.abc import Iterator

import structlog
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from libs.common.errors import ServiceError

log = structlog.get_logger(__name__)
CODES = {400: "BAD_USER_INPUT", 401: "UNAUTHENTICATED", 403: "FORBIDDEN", 404: "NOT_FOUND",
         409: "CONFLICT", 413: "BAD_USER_INPUT", 422: "BAD_USER_INPUT",
         503: "SERVICE_UNAVAILABLE"}  # fmt: skip


def coded(error: GraphQLError) -> GraphQLError:
    original = error.original_error
    extra: dict[str, object] = {}
    if original is None:  # refused before execution: parse or validation
        code = "GRAPHQL_PARSE_FAILED" if "Syntax Error" in error.message else (
            "GRAPHQL_VALIDATION_FAILED")  # fmt: skip
        message = error.message
    elif isinstance(original, ServiceError):
        code, message = CODES.get(original.status, "BAD_USER_INPUT"), str(original)
        if original.errors:  # the fields at fault and why, as problem+json has them
            extra = {"errors": original.errors}
    else:
        log.error("graphql_resolver_failed", error_type=type(original).__name__)
        code, message = "INTERNAL_SERVER_ERROR", "internal error"
    return GraphQLError(message, nodes=error.nodes, source=error.source,
                        positions=error.positions, path=error.path, original_error=original,
                        extensions={**(error.extensions or {}), **extra, "code": code})  # fmt: skip


class ErrorCodes(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is not None and result.errors:
            result.errors = [coded(e) for e in result.errors]
        if self.execution_context.pre_execution_errors:
            self.execution_context.pre_execution_errors = [
                coded(e) for e in self.execution_context.pre_execution_errors
            ]
