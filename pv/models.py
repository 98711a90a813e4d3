"""Every table, imported in one place so SQLModel.metadata is complete (Alembic, tests)."""

from pv.audit.models import AuditEntry
from pv.auth.models import ApiToken, LoginFailure, User, UserSession, UserSite
from pv.events.models import AdverseEvent
from pv.exposure.models import Exposure
from pv.icsr.models import ReportVersion, SaeCase, Submission
from pv.imports.job_models import UploadJob
from pv.notify.models import Notification
from pv.review.models import (
    Assessment,
    ExpeditedReport,
    QueueTally,
    RsiVersion,
    SafetyQuery,
)
from pv.signatures.models import Signature, SubjectUnblinding
from pv.study.models import Arm, ArmDrug, Drug, Site, Study, Subject
from pv.terminology.models import Term, TerminologyRelease

__all__ = [
    "AdverseEvent",
    "ApiToken",
    "Arm",
    "ArmDrug",
    "Assessment",
    "AuditEntry",
    "Drug",
    "ExpeditedReport",
    "Exposure",
    "LoginFailure",
    "Notification",
    "QueueTally",
    "ReportVersion",
    "RsiVersion",
    "SaeCase",
    "SafetyQuery",
    "Signature",
    "Site",
    "Study",
    "Subject",
    "SubjectUnblinding",
    "Submission",
    "Term",
    "TerminologyRelease",
    "UploadJob",
    "User",
    "UserSession",
    "UserSite",
]
