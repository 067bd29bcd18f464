"""The campus's pages: the device's Learning screen and the education staff's desk."""

from __future__ import annotations

from aiohttp import web

from web.pages import page

routes = web.RouteTableDef()


@routes.get("/device/learning")
async def learning(request: web.Request) -> web.Response:
    """Courses, my courses, a lesson, the assessment and my certificate (learning.js)."""
    return await page(request, "campus/learning.html", "learning")


@routes.get("/staff/campus")
async def education(request: web.Request) -> web.Response:
    """Education staff: courses, lessons, uploads, approvals, progress (staff_campus.js)."""
    return await page(request, "campus/staff.html", "staff_campus")
