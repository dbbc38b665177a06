"""``POST /api/v1/fulfillments``: one fulfillment, a batch of up to 1,000, or a dry run.

An item sent without a value takes its goal's ``default_value``. In a batch, every
rejected item's error names its place: the parser's own messages already do
(``fulfillments[2].goal_id is required.``); an error found later, by the clock or the
store, is prefixed with it (``fulfillments[2]: Goal was not recognized.``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from goalkeeper.core.fulfillments import Fulfillments, Valid, Verdict
from goalkeeper.errors import GoalkeeperError
from goalkeeper.model import Stored
from goalkeeper.observability import (
    FULFILLMENTS_ACCEPTED,
    FULFILLMENTS_DUPLICATE,
    FULFILLMENTS_REJECTED,
)
from goalkeeper.web.api.common import (
    INGEST,
    authenticate,
    check_query,
    error_object,
    read_body,
)
from goalkeeper.wire import json_api

if TYPE_CHECKING:
    from collections.abc import Sequence

    from goalkeeper.store.base import WriteOutcome
    from goalkeeper.web.app import Goalkeeper
    from goalkeeper.wire.json_api import FulfillmentInput


QUERY = frozenset(("validate_only",))
ACCEPTED = FULFILLMENTS_ACCEPTED.labels("json")
DUPLICATE = FULFILLMENTS_DUPLICATE.labels("json")


def result_json(outcome: WriteOutcome | Verdict) -> dict[str, Any]:
    if isinstance(outcome, GoalkeeperError):
        return {"status": "rejected", "error": error_object(outcome)}
    if isinstance(outcome, Valid):
        if outcome.same_as is None:
            return {"status": "valid"}
        return {"status": "duplicate", "same_as": outcome.same_as}
    if outcome.duplicate:
        return {"status": "duplicate", "id": outcome.fulfillment_id}
    return {"status": "accepted", "id": outcome.fulfillment_id}


def results_json(
    items: Sequence[FulfillmentInput | GoalkeeperError],
    outcomes: Sequence[WriteOutcome] | Sequence[Verdict],
) -> dict[str, Any]:
    """A batch's answer: one result per item, each rejection naming the item's place."""
    results: list[dict[str, Any]] = []
    append = results.append
    for index, outcome in enumerate(outcomes):
        if type(outcome) is Stored:  # the common case first
            if outcome.duplicate:
                append({"status": "duplicate", "id": outcome.fulfillment_id})
            else:
                append({"status": "accepted", "id": outcome.fulfillment_id})
        elif isinstance(outcome, GoalkeeperError) and not isinstance(items[index], GoalkeeperError):
            # Found after parsing (clock, store): the parser's errors already name it.
            error = error_object(outcome)
            error["message"] = f"fulfillments[{index}]: {outcome.message}"
            append({"status": "rejected", "error": error})
        else:
            append(result_json(outcome))
    return {"results": results}


def count(outcome: WriteOutcome) -> None:
    """Metrics: what the JSON API accepted, found duplicate, or refused and why."""
    if isinstance(outcome, GoalkeeperError):
        FULFILLMENTS_REJECTED.labels("json", outcome.code).inc()
    elif outcome.duplicate:
        DUPLICATE.inc()
    else:
        ACCEPTED.inc()


def count_batch(outcomes: list[WriteOutcome]) -> None:
    """:func:`count` for a whole batch, one counter update per kind."""
    accepted = duplicate = 0
    for outcome in outcomes:
        if isinstance(outcome, GoalkeeperError):
            FULFILLMENTS_REJECTED.labels("json", outcome.code).inc()
        elif outcome.duplicate:
            duplicate += 1
        else:
            accepted += 1
    if accepted:
        ACCEPTED.inc(accepted)
    if duplicate:
        DUPLICATE.inc(duplicate)


def routes(gk: Goalkeeper, limit: int, fulfillments: Fulfillments) -> list[Route]:
    defaults = gk.goal_defaults

    async def fulfill(request: Request) -> Response:
        key = await authenticate(gk, request, INGEST)
        check_query(request, QUERY)
        dry_run = json_api.query_flag(request.query_params.get("validate_only"), "validate_only")
        body = await read_body(gk, request, limit)
        batch, items = json_api.fulfillments_input(body, defaults.known(key.account_id))
        if not batch and isinstance(items[0], GoalkeeperError):
            if not dry_run:
                count(items[0])
            raise items[0]  # a malformed single body is a 400, in a dry run too
        if dry_run:
            verdicts = await fulfillments.validate(key.account_id, items)
            if batch:
                return JSONResponse(results_json(items, verdicts))
            return JSONResponse(result_json(verdicts[0]))
        items = await defaults.apply(key.account_id, items)
        if batch:
            outcomes = await fulfillments.record_batch(key.account_id, items)
            count_batch(outcomes)
            return JSONResponse(results_json(items, outcomes))
        item = items[0]
        assert not isinstance(item, GoalkeeperError)
        try:
            stored = await fulfillments.record(key.account_id, item)
        except GoalkeeperError as error:
            count(error)
            raise
        count(stored)
        return JSONResponse(result_json(stored), status_code=201)

    return [Route("/api/v1/fulfillments", fulfill, methods=["POST"])]
