"""The database models. Import from here: ``from rotest_app.models import ResourceData``."""
from .accounts import (ApiToken, Group, RateLimitCounter, User, hash_token,
                       user_groups)
from .base import Base, UtcDateTime, as_utc, db, rfc3339, utcnow
from .history import HistoryRecord, HistoryRun, HistoryShardPlan
from .locks import LockRequest, LockSession
from .resources import ResourceData, resource_models, sub_resource_fields
from .signatures import ErrorSignature

__all__ = [
    "ApiToken", "Base", "ErrorSignature", "Group", "HistoryRecord", "HistoryRun", "HistoryShardPlan",
    "LockRequest", "LockSession", "RateLimitCounter", "ResourceData", "User", "UtcDateTime",
    "as_utc", "db", "hash_token", "resource_models", "rfc3339", "sub_resource_fields",
    "user_groups", "utcnow",
]
