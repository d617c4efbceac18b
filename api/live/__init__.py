"""The live building page for facility managers (and, per their role, bureau staff, auditors and
administrators): today's load, the last 7 days, month to date, PV, EV, open alerts, data quality."""

from api.live.routes import router

__all__ = ["router"]
