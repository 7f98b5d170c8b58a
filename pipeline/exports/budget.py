"""Budgets: a push whose forecast exceeds its goal's budget sends nothing, unless a person overrides it.

The forecast is the push's plan (`pipeline.exports.plan`): the rows it would send now, their
data points, their users, and those users as a share of the day's segment members. It is weighed
before the first request, so a push over budget costs nothing; the error names each limit
exceeded with the forecast, where the plan is to review, and the two ways on.
"""

from __future__ import annotations

from pipeline.exports.plan import Plan
from pipeline.mapping import Budget

OVERRIDE_HINT = "profilesync run --override-budget, or run config override_budget: true on the braze_push step"


class BudgetExceeded(RuntimeError):
    """The push's forecast is over its goal's budget; nothing was sent."""


def over_budget(budget: Budget | None, plan: Plan) -> list[str]:
    """Each limit the plan exceeds, as 'forecast over budget' text; empty when within budget."""
    if budget is None or plan.rows.is_empty():
        return []
    over = []
    if budget.data_points is not None and plan.data_points > budget.data_points:
        over.append(f"{plan.data_points:,} data points, over the budget of {budget.data_points:,}")
    if budget.users is not None and plan.users > budget.users:
        over.append(f"{plan.users:,} users, over the budget of {budget.users:,}")
    if budget.share_of_segment is not None and plan.users > budget.share_of_segment * plan.members:
        share = f"{plan.users / plan.members:.1%}" if plan.members else "all (the segment is empty)"
        over.append(
            f"{share} of the segment ({plan.users:,} users of {plan.members:,} members), "
            f"over the budget of {budget.share_of_segment:.1%}"
        )
    return over


def enforce_budget(budget: Budget | None, plan: Plan, *, override: bool, plan_uri: str, source: str) -> str:
    """Raise BudgetExceeded when the plan is over budget and not overridden.

    Returns what was overridden ('' when within budget), for the run's metadata and history."""
    over = over_budget(budget, plan)
    if not over:
        return ""
    label = f"{plan.connection}/{plan.goal} {plan.day}"
    if override:
        return f"{label}: pushed over budget by override: {'; '.join(over)}"
    raise BudgetExceeded(
        f"{label}: the push's forecast is over budget: {'; '.join(over)}. Nothing was sent. Review the "
        f"plan at {plan_uri}; then raise budget: of goal {plan.goal} in {source}, or push anyway with {OVERRIDE_HINT}"
    )
