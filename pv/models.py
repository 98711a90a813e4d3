"""Every table, imported in one place so SQLModel.metadata is complete (Alembic, tests)."""

from pv.audit.models import AuditEntry
from pv.auth.models import ApiToken, User, UserSession, UserSite
from pv.events.models import AdverseEvent
from pv.exposure.models import Exposure
from pv.study.models import Arm, ArmDrug, Drug, Site, Study, Subject
from pv.terminology.models import Term, TerminologyRelease

__all__ = [
    "AdverseEvent",
    "ApiToken",
    "Arm",
    "ArmDrug",
    "AuditEntry",
    "Drug",
    "Exposure",
    "Site",
    "Study",
    "Subject",
    "Term",
    "TerminologyRelease",
    "User",
    "UserSession",
    "UserSite",
]
