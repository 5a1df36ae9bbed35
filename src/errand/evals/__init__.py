"""``errand eval``: how often errands succeed, measured on a suite anyone can rerun.

Public surface: :func:`load_suite` reads a suite folder into :class:`Suite` of
:class:`EvalTask`; :func:`run_suite` runs it with :class:`EvalSettings` and returns
:class:`RunRecord` per run; :func:`summarize` turns them into a :class:`SuiteSummary`
(JSON with ``to_json``, HTML with :func:`to_html`). Graders receive a :class:`TaskResult`
and return a :class:`Grade` (:class:`Checks` builds one with partial credit).
:class:`NamespaceHost` is the network-namespace host local sites are served from.
"""

from errand.evals.harness import EvalSettings, RunRecord, run_suite
from errand.evals.nethost import NamespaceHost, NetHostUnavailable, remove_stale_hosts
from errand.evals.report import SuiteSummary, TaskSummary, summarize, to_html
from errand.evals.results import Checks, Grade, SiteRequest, TaskResult, Verified
from errand.evals.scripted_user import ScriptedUser
from errand.evals.sites import SiteHost
from errand.evals.suite import EvalTask, Suite, SuiteError, UserScript, load_suite, load_task

__all__ = [
    "Checks",
    "EvalSettings",
    "EvalTask",
    "Grade",
    "NamespaceHost",
    "NetHostUnavailable",
    "RunRecord",
    "ScriptedUser",
    "SiteHost",
    "SiteRequest",
    "Suite",
    "SuiteError",
    "SuiteSummary",
    "TaskResult",
    "TaskSummary",
    "UserScript",
    "Verified",
    "load_suite",
    "load_task",
    "remove_stale_hosts",
    "run_suite",
    "summarize",
    "to_html",
]
