"""The night's decision: one function from the night's evidence to the deployment plan, for every path.

The nightly Dagster assets (validation -> documented tier -> deployment), `run_chain` (what the retrospective and
the benchmarks measure) and the main command all call `decide` on a `Night`; none keeps a copy of any step. A
`Night` holds what the decision reads, each gathered once by whoever ran the stages before it:
- the search's verdicts and its per-bar held-out table (`held_out_table`: the candidates' held-out returns, the
  searched incumbents' forward records in their own columns), the equal-weight market on the same bars;
- the documented tier's passers (as verdict dicts: deployment/documented.candidate_verdicts) and its rules' net
  daily returns (deployment/documented.rule_daily_returns);
- the strategies trading now: their paper records, where a live rule's forward record begins;
- the probation ledger, the night's genome identities and the genomes and rules retired earlier.

What `decide` adds to the search's table before the decision engine (deployment/selection.plan_from_verdicts):
the rules the tier passed that are not live (new candidates, their held-out record the tier's evidence span),
and every live rule's column, its forward record only. A rule retired earlier that the tier passes again is
judged only on its record since retirement, as a returning genome is: it may come back only when that record
earned it, and then as a new entry spending a new share of the budget.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from quant_organism.deployment import documented_capital as documented
from quant_organism.deployment.decision import DecisionConfig, DeploymentPlan
from quant_organism.deployment.error_budget import ErrorBudget
from quant_organism.deployment.scoring import PaperRecord
from quant_organism.deployment.selection import Retired, plan_from_verdicts


@dataclass(frozen=True)
class Night:
    """Everything the night's decision reads (see the module docstring)."""

    day: date  # the evolution date: the last day of the data the night saw
    verdicts: Sequence[Mapping]  # the search's verdict dicts (validation)
    held_out: pd.DataFrame  # per bar: candidates' held-out returns and searched incumbents' forward records
    market: pd.Series | None = None  # the equal-weight market on the same bars
    documented: Sequence[Mapping] = ()  # the documented tier's passing rules (documented.candidate_verdicts)
    rule_daily: pd.DataFrame = field(default_factory=pd.DataFrame)  # documented rules' net daily returns
    paper: Mapping[str, PaperRecord] = field(default_factory=dict)  # every live strategy's paper record
    rule_since: Mapping[str, pd.Timestamp] = field(default_factory=dict)  # live rules: where their forward record begins
    budget: ErrorBudget | None = None
    genomes: Mapping[str, str] = field(default_factory=dict)  # name -> genes hash (a rule's identity is its name)
    retired: Mapping[str, Retired] = field(default_factory=dict)  # genes hash (or rule name) -> name, day


def held_out_table(evidence: pd.DataFrame | None, forward: pd.DataFrame, index: pd.DatetimeIndex) -> pd.DataFrame:
    """The search's per-bar table on the held-out span `index`: the candidates' held-out returns (`evidence`, None
    when nothing was judged), a live genome found again replaced by its forward record (never judged again on the
    span that chose it), and the other live genomes' forward records beside them."""
    returns = evidence.copy() if evidence is not None else pd.DataFrame(index=index)
    if len(forward.columns):
        returns = returns.drop(columns=[c for c in forward.columns if c in returns.columns]).join(forward, how="outer")
    return returns if len(returns.index) else pd.DataFrame(index=index)


def decide(night: Night, config: DecisionConfig = DecisionConfig()) -> DeploymentPlan:
    """The night's plan: both tiers' passers and the incumbents through the decision engine and probation."""
    returns = night.held_out
    verdicts = [dict(v) for v in night.verdicts]
    live_rules = dict(night.rule_since)
    new_rules = [dict(v) for v in night.documented if v["candidate_id"] not in live_rules]
    genomes = (
        dict(night.genomes) | {name: name for name in live_rules} | {v["candidate_id"]: v["candidate_id"] for v in new_rules}
    )
    if live_rules or new_rules:
        names = list(live_rules) + [v["candidate_id"] for v in new_rules]
        ruled = documented.landed(night.rule_daily, returns.index, names)
        starts = dict(live_rules) | {n: night.retired[n].since for n in names if n not in live_rules and n in night.retired}
        for name, since in starts.items():  # forward records only: since deployed, or since retired
            ruled.loc[ruled.index < since, name] = np.nan
        returns = returns.join(ruled)
        verdicts += new_rules
    return plan_from_verdicts(
        verdicts,
        returns,
        config,
        paper=dict(night.paper),
        day=night.day,
        market=night.market,
        budget=night.budget,
        genomes=genomes,
        retired=dict(night.retired),
    )
