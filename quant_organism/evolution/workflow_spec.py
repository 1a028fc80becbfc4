"""Research workflows: several phases in one run, written in YAML and checked before any work.

    workflow:
      name: discovery_refinement          # optional; default: the file's name
      type: multi_phase_optimization
      preset: test                        # the evolution preset phases start from (windows, executor, rates)
      phases:
        - name: strategy_discovery
          type: optimization              # DEAP NSGA-II over chosen families and gene ranges
          strategies: [{type: momentum}, {type: rsi_filter, genes: {fast_period: [5, 30]}}]
          optimization: {objective: sharpe_ratio, generations: 10, keep_best: 10}
        - name: refinement
          type: optimization
          inherit_best_from: strategy_discovery   # generation 0 starts from those winners
        - name: risk_check
          type: backtest                  # the inherited winners on the held-out windows, at a position size
          inherit_best_from: refinement
          risk: {position_sizers: [{type: percentage, percentage: 5.0}]}

Phase types: `optimization`, `backtest` (held-out metrics of the inherited winners) and `validation` (the
organism's gate over them). A backtest or validation phase keeps the winners that did well on the held-out
windows, so no phase may inherit from it (directly or further down): its winners would be judged again on
the windows that chose them. A strategy `type` is a seed family (`FAMILIES`) or a seed type. Every error
names the file, the line and the field (`WorkflowError`), and is raised before anything runs.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from quant_organism.evolution.evolution_config import preset_names
from quant_organism.strategies.genes import SeedType, gene_space

WORKFLOWS_DIR = Path(__file__).resolve().parent / "workflows"
FAMILIES: dict[str, tuple[SeedType, ...]] = {
    "momentum": (SeedType.EMA_CROSSOVER, SeedType.SMA_TREND, SeedType.DONCHIAN_BREAKOUT, SeedType.ICHIMOKU),
    "mean_reversion": (SeedType.RSI_FILTER, SeedType.STOCHASTIC, SeedType.VWAP_REVERSION),
    "volatility": (SeedType.ATR_STOP, SeedType.VOLATILITY_SCALING),
    "carry": (SeedType.FUNDING_CARRY,),
    "ml": (SeedType.LINEAR_SVC, SeedType.PCA_TREE_QUANTILE),
}
OBJECTIVES = {
    "score": "score",
    "fitness": "score",
    "sharpe_ratio": "sharpe",
    "sortino_ratio": "sortino",
    "total_return": "total_return",
    "consistency": "consistency",
}
NAME = re.compile(r"^[a-z][a-z0-9_]{0,48}$")


class WorkflowError(ValueError):
    """A workflow file that cannot run; the message names the file, line and field of every problem."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StrategySpec(_Strict):
    type: str = Field(description="a seed family (momentum, mean_reversion, volatility, carry, ml) or a seed type")
    genes: dict[str, tuple[float, float]] = Field(default_factory=dict, description="gene -> [low, high]")
    weight: float = Field(default=1.0, gt=0)

    def seed_types(self) -> tuple[SeedType, ...]:
        if self.type in FAMILIES:
            return FAMILIES[self.type]
        return (SeedType(self.type),)


class OptimizationSpec(_Strict):
    objective: str = "score"
    generations: int | None = Field(default=None, ge=0)
    population: int | None = Field(default=None, ge=2, description="total strategies (islands x batch_size)")
    batch_size: int | None = Field(default=None, ge=2)
    mutation_rate: float | None = Field(default=None, ge=0, le=1)
    mutation_sigma: float | None = Field(default=None, gt=0, le=1)
    keep_best: int = Field(default=10, ge=1, description="winners a later phase inherits")


class SizerSpec(_Strict):
    type: Literal["percentage"]
    percentage: float = Field(gt=0, le=100, description="share of capital per position, in percent")


class RiskSpec(_Strict):
    position_sizers: list[SizerSpec] = Field(default_factory=list)


class ValidationSpec(_Strict):
    mode: Literal["minimal", "fast"] = "fast"


class PhaseSpec(_Strict):
    name: str
    type: Literal["optimization", "backtest", "validation"]
    strategies: list[StrategySpec] | None = None
    optimization: OptimizationSpec = Field(default_factory=OptimizationSpec)
    inherit_best_from: str | None = None
    risk: RiskSpec | None = None
    validation: ValidationSpec = Field(default_factory=ValidationSpec)

    def sizing(self) -> list[float]:
        """Position fractions the backtest reports (1.0 = the strategy's own size when none is given)."""
        sizers = self.risk.position_sizers if self.risk else []
        return [s.percentage / 100.0 for s in sizers] or [1.0]


class WorkflowSpec(_Strict):
    name: str
    type: Literal["multi_phase_optimization"]
    description: str = ""
    preset: str = "test"
    phases: list[PhaseSpec] = Field(min_length=1)

    def phase(self, name: str) -> PhaseSpec:
        return next(p for p in self.phases if p.name == name)

    def order(self) -> list[PhaseSpec]:
        """Phases in run order: each after the one it inherits from, otherwise as written."""
        done: list[str] = []
        pending = list(self.phases)
        while pending:
            ready = next(p for p in pending if p.inherit_best_from is None or p.inherit_best_from in done)
            done.append(ready.name)
            pending.remove(ready)
        return [self.phase(n) for n in done]


# --- loading and checking -----------------------------------------------------------------------
def packaged_workflows() -> dict[str, Path]:
    return {p.stem: p for p in sorted(WORKFLOWS_DIR.glob("*.yaml"))}


def resolve_workflow(name_or_path: str, extra_dirs: tuple[Path, ...] = ()) -> Path:
    """A packaged workflow by name, one in `extra_dirs` by name, or a file path."""
    for folder in (WORKFLOWS_DIR, *extra_dirs):
        candidate = Path(folder) / f"{name_or_path}.yaml"
        if re.fullmatch(r"[A-Za-z0-9_-]+", name_or_path) and candidate.is_file():
            return candidate
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path
    raise WorkflowError(
        f"workflow {name_or_path!r}: no such file, and not a packaged workflow ({', '.join(packaged_workflows())})"
    )


def load_workflow(path: Path | str) -> WorkflowSpec:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise WorkflowError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return parse_workflow(text, source=str(path), default_name=path.stem)


def parse_workflow(text: str, source: str = "<workflow>", default_name: str = "workflow") -> WorkflowSpec:
    """The checked workflow, or `WorkflowError` listing every problem as `source:line: field: what`."""
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"line {mark.line + 1}" if mark else "?"
        raise WorkflowError(f"{source}:{line}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict) or not isinstance(data.get("workflow"), dict):
        raise WorkflowError(f"{source}:line 1: workflow: the file must hold a mapping under the key 'workflow'")
    body = dict(data["workflow"])
    body.setdefault("name", default_name)
    try:
        spec = WorkflowSpec.model_validate(body)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc = ("workflow", *error["loc"])
            problems.append(_problem(source, root, loc, error["msg"]))
        raise WorkflowError("\n".join(problems)) from None
    problems = [_problem(source, root, loc, msg) for loc, msg in _semantic_problems(spec)]
    if problems:
        raise WorkflowError("\n".join(problems))
    return spec


def _semantic_problems(spec: WorkflowSpec) -> list[tuple[tuple, str]]:
    out: list[tuple[tuple, str]] = []
    if not NAME.match(spec.name):
        out.append((("workflow", "name"), f"{spec.name!r}: use lower-case letters, digits and '_' (it names a Dagster job)"))
    if spec.preset not in preset_names():
        out.append((("workflow", "preset"), f"unknown preset {spec.preset!r}; expected one of {preset_names()}"))
    names = [p.name for p in spec.phases]
    known_types = sorted(FAMILIES) + [s.value for s in SeedType]
    for i, phase in enumerate(spec.phases):
        at = ("workflow", "phases", i)
        if not NAME.match(phase.name) or phase.name == "plan":
            out.append(((*at, "name"), f"{phase.name!r}: use lower-case letters, digits and '_' (not 'plan'); it names a step"))
        if names.count(phase.name) > 1 and names.index(phase.name) != i:
            out.append(((*at, "name"), f"duplicate phase name {phase.name!r}"))
        parent = phase.inherit_best_from
        if parent is not None and parent not in names:
            out.append(((*at, "inherit_best_from"), f"unknown phase {parent!r}; phases: {names}"))
        if parent == phase.name:
            out.append(((*at, "inherit_best_from"), f"phase {phase.name!r} inherits from itself"))
        if phase.type != "optimization" and parent is None:
            out.append(
                ((*at, "inherit_best_from"), f"a {phase.type} phase judges inherited winners: name the phase they come from")
            )
        if phase.type == "optimization" and parent is None and not phase.strategies:
            out.append(
                ((*at, "strategies"), "an optimization phase needs strategies (families or seed types) or inherit_best_from")
            )
        if phase.optimization.objective not in OBJECTIVES:
            out.append(
                (
                    (*at, "optimization", "objective"),
                    f"unknown objective {phase.optimization.objective!r}; expected one of {sorted(OBJECTIVES)}",
                )
            )
        for j, strategy in enumerate(phase.strategies or []):
            where = (*at, "strategies", j)
            if strategy.type not in known_types:
                out.append(
                    ((*where, "type"), f"unknown strategy family or seed type {strategy.type!r}; expected one of {known_types}")
                )
                continue
            for gene, (low, high) in strategy.genes.items():
                specs = [gene_space(s)[gene] for s in strategy.seed_types() if gene in gene_space(s)]
                if not specs:
                    out.append(((*where, "genes", gene), f"no seed of {strategy.type!r} has a gene {gene!r}"))
                elif not all(s.low <= low < high <= s.high for s in specs):
                    bounds = ", ".join(f"[{s.low:g}, {s.high:g}]" for s in specs)
                    out.append(((*where, "genes", gene), f"range [{low:g}, {high:g}] must be low < high within {bounds}"))
    if not out:  # each optimization phase must also make a valid evolution config (island sizes, rates)
        from quant_organism.evolution.evolution_config import load_preset

        for i, phase in enumerate(spec.phases):
            if phase.type == "optimization":
                try:
                    load_preset(spec.preset, **evolution_overrides(spec, phase))
                except ValueError as exc:
                    text = str(exc).splitlines()
                    out.append((("workflow", "phases", i, "optimization"), text[-1].strip() if text else str(exc)))
    cycles = _cycles(spec)
    return out + (cycles or _held_out_reuse(spec))


HELD_OUT_JUDGES = ("backtest", "validation")  # phases that keep only the winners that did well on the held-out windows


def _held_out_reuse(spec: WorkflowSpec) -> list[tuple[tuple, str]]:
    """A phase downstream of one that filtered winners on the held-out windows: its winners (or what is bred
    from them) would be judged again on the very windows that chose them, so its verdict says nothing."""
    parents = {p.name: p.inherit_best_from for p in spec.phases}
    kinds = {p.name: p.type for p in spec.phases}
    out = []
    for i, phase in enumerate(spec.phases):
        node = parents.get(phase.name)
        while node is not None and node in parents:
            if kinds[node] in HELD_OUT_JUDGES:
                out.append((("workflow", "phases", i, "inherit_best_from"),
                            f"phase {phase.name!r} inherits (through {phase.inherit_best_from!r}) the winners that {kinds[node]} "
                            f"phase {node!r} kept for doing well on the held-out windows; they would be judged again on "
                            f"those windows. Judge them in one held-out phase only, or inherit from an optimization phase"))  # fmt: skip
                break
            node = parents.get(node)
    return out


def _cycles(spec: WorkflowSpec) -> list[tuple[tuple, str]]:
    parents = {p.name: p.inherit_best_from for p in spec.phases}
    for i, phase in enumerate(spec.phases):
        seen, node = [phase.name], parents.get(phase.name)
        while node is not None and node in parents:
            if node == phase.name:
                chain = " -> ".join([*seen, node])
                return [(("workflow", "phases", i, "inherit_best_from"), f"inheritance cycle: {chain}")]
            if node in seen:
                break
            seen.append(node)
            node = parents.get(node)
    return []


def _problem(source: str, root: yaml.Node | None, loc: tuple, message: str) -> str:
    field = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in loc).replace(".[", "[")
    return f"{source}:line {_line(root, loc)}: {field}: {message}"


def _line(node: yaml.Node | None, loc: tuple[Any, ...]) -> int:
    """The line of the deepest node on `loc` (a missing key: its mapping's line)."""
    line = (node.start_mark.line + 1) if node is not None else 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if getattr(k, "value", None) == str(part)), None)
            key = next((k for k, v in node.value if getattr(k, "value", None) == str(part)), None)
            if match is None:
                return line
            line, node = key.start_mark.line + 1, match
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def evolution_overrides(spec: WorkflowSpec, phase: PhaseSpec, inherited_types: tuple[SeedType, ...] = ()) -> dict:
    """The EvolutionConfig fields an optimization phase sets on top of the workflow's preset."""
    out: dict[str, Any] = {"objective": OBJECTIVES[phase.optimization.objective]}
    if phase.strategies:
        weights: dict[SeedType, float] = {}
        ranges: dict[SeedType, dict[str, tuple[float, float]]] = {}
        for strategy in phase.strategies:
            types = strategy.seed_types()
            for seed in types:
                weights[seed] = weights.get(seed, 0.0) + strategy.weight / len(types)
                for gene, bounds in strategy.genes.items():
                    if gene in gene_space(seed):
                        ranges.setdefault(seed, {})[gene] = bounds
        out["seed_types"] = weights
        if ranges:
            out["gene_ranges"] = ranges
    elif inherited_types:
        out["seed_types"] = list(dict.fromkeys(inherited_types))
    opt = phase.optimization
    for field, name in (
        ("generations", "generations"),
        ("population", "total_strategies"),
        ("batch_size", "batch_size"),
        ("mutation_rate", "mutation_rate"),
        ("mutation_sigma", "mutation_sigma"),
    ):
        if getattr(opt, field) is not None:
            out[name] = getattr(opt, field)
    return out
