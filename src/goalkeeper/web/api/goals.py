"""``/api/v1/goals``: define the account's business goals and list them."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from goalkeeper.core import registry
from goalkeeper.web.api.common import (
    ADMIN,
    authenticate,
    check_query,
    goal_json,
    path_id,
    read_body,
)
from goalkeeper.wire import json_api

if TYPE_CHECKING:
    from goalkeeper.web.app import Goalkeeper


def routes(gk: Goalkeeper, limit: int) -> list[Route]:
    async def create_goal(request: Request) -> Response:
        key = await authenticate(gk, request, ADMIN)
        check_query(request)
        given = json_api.goal_input(await read_body(gk, request, limit))
        goal = await asyncio.to_thread(
            registry.create_goal,
            gk.store,
            key.account_id,
            given.name,
            given.id,
            given.counting,
            given.window_days,
            given.default_value,
        )
        return JSONResponse(goal_json(goal), status_code=201)

    async def list_goals(request: Request) -> Response:
        key = await authenticate(gk, request, ADMIN)
        check_query(request)
        goals = await asyncio.to_thread(gk.store.list_goals, key.account_id)
        return JSONResponse({"goals": [goal_json(g) for g in goals]})

    async def get_goal(request: Request) -> Response:
        key = await authenticate(gk, request, ADMIN)
        check_query(request)
        goal = await asyncio.to_thread(registry.goal_of, gk.store, key.account_id, path_id(request))
        return JSONResponse(goal_json(goal))

    async def goals(request: Request) -> Response:
        if request.method == "POST":
            return await create_goal(request)
        return await list_goals(request)

    return [
        Route("/api/v1/goals", goals, methods=["GET", "POST"]),
        Route("/api/v1/goals/{id:int}", get_goal, methods=["GET"]),
    ]
