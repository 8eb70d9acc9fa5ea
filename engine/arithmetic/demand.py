"""How many GPUs the demand needs: users, per-user speed, tokens, deadline — not memory alone.

Memory sets the smallest group of GPUs that holds one copy of the model; the demand sets how
many such groups (replicas) are bought. Every function here is plain arithmetic on numbers the
caller passes in (device figures, model shape, demand), and returns the count together with the
steps that produced it, so an expert can redo the sum by hand.

Interactive serving, per replica of ``t`` tensor-parallel GPUs:

- memory: ``t x usable - weights - t x overhead`` is left for the KV cache; each user holds
  ``kv_bytes_per_token x context`` of it, so at most ``b_mem`` users fit;
- speed (roofline): one decode step reads the weights once and every active user's KV cache,
  so ``step = max((read(b) + b x kv_per_user) / (t x bandwidth x MBU),
  b x 2 x active_params / (t x dense_flops x MFU))``; the user gets ``1 / step`` tokens/s, and
  ``b_speed`` is the largest batch that keeps that at or above the target. A dense model reads
  all its weights, ``read(b) = weights``; a mixture of experts reads its dense part and only the
  experts some token of the batch routes to, ``read(b) = dense + experts x (1 - (1 - k/E)^b)``
  (E experts per MoE layer, k chosen per token, uniform routing: docs/sizing.md), so its
  ``b_speed`` is found by an integer search instead of the dense closed form;
- replicas = ceil(users / min(b_mem, b_speed)); GPUs = replicas x t, with ``t`` chosen among the
  degrees the links carry to need the fewest GPUs.

Training: FLOPs = k x N x D (k = 6 for full training, 4 for LoRA — frozen weights need no weight
gradients); GPUs = FLOPs / (dense_flops x MFU x deadline), never fewer than memory needs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache, partial
from typing import Any, overload

SECONDS_PER_DAY = 86_400.0

COUNTS_REMEMBERED = 4096
"""Counts kept by their inputs (frozen values): the lever search asks the same count of a device
in several situations (another cap, budget, site power or candidate set changes none of them)."""


@dataclass(frozen=True)
class Hardware:
    """One device's figures that the count depends on (decimal GB and GB/s, dense TFLOPS)."""

    usable_memory_gb: float
    bandwidth_gbs: float
    dense_tflops: float | None
    tensor_parallel_degrees: tuple[int, ...]
    """The tensor-parallel group sizes its links carry (1 always; 2 for bridged pairs; up to the
    NVLink domain, or small PCIe groups for cards with peer-to-peer)."""
    mbu: float
    """Fraction of peak memory bandwidth a decode step achieves on one GPU."""
    mbu_tensor_parallel: float
    """The same with the model split over PCIe (an all-reduce per layer)."""
    mbu_nvlink: float | None = None
    """The same with the model split within an NVLink domain (None: as over PCIe)."""
    nvlink_group: int = 1
    """GPUs one NVLink domain joins; larger groups cross PCIe."""
    gpus_per_unit: int = 1
    """Counts come in multiples of this: the purchase unit, or a tensor-parallel group."""
    unit_is_purchase: bool = True
    """False when the multiple is a tensor-parallel group larger than the purchase unit."""

    def mbu_for(self, degree: int) -> float:
        """Bandwidth utilization of a decode step split over ``degree`` GPUs."""
        if degree == 1:
            return self.mbu
        if degree <= self.nvlink_group and self.mbu_nvlink is not None:
            return self.mbu_nvlink
        return self.mbu_tensor_parallel


@dataclass(frozen=True)
class ServedModel:
    """What one decode step reads and computes (decimal GB; billions of parameters)."""

    weights_gb: float
    kv_gb_per_token: float
    active_params_b: float
    overhead_gb_per_gpu: float
    """CUDA context and activation peak, on every GPU of a replica."""
    expert_gb: float = 0.0
    """The routed experts' weights, part of ``weights_gb`` (all resident); 0 for a dense model."""
    experts: int = 0
    """Routed experts per MoE layer (E); 0 for a dense model."""
    experts_per_token: int = 0
    """Experts each token is routed to in a MoE layer (k)."""

    @property
    def is_moe(self) -> bool:
        return self.experts > 0 and self.expert_gb > 0

    @property
    def dense_gb(self) -> float:
        """Weights every decode step reads whatever the routing: all but the routed experts."""
        return self.weights_gb - self.expert_gb

    def experts_read_fraction(self, batch: int) -> float:
        """Expected share of the routed experts a step of ``batch`` tokens touches, uniform
        routing: an expert escapes one token with probability 1 - k/E, all ``batch`` tokens with
        (1 - k/E)^batch; 1 for a dense model (all its weights are read)."""
        if not self.is_moe:
            return 1.0
        return 1.0 - (1.0 - self.experts_per_token / self.experts) ** batch

    def read_gb(self, batch: int) -> float:
        """Weight GB one decode step of ``batch`` sequences reads: all of them for a dense model;
        for a mixture the dense part plus the experts some token routes to."""
        if not self.is_moe:
            return self.weights_gb
        return self.dense_gb + self.expert_gb * self.experts_read_fraction(batch)

    def read_formula(self, batch: int | str = "b") -> str:
        """How :meth:`read_gb` is reached, for the steps text."""
        k, e = self.experts_per_token, self.experts
        if isinstance(batch, str):
            return (
                f"{_gb(self.dense_gb)} GB dense + {_gb(self.expert_gb)} GB experts x "
                f"(1 - (1 - {k}/{e})^{batch})"
            )
        return (
            f"{_gb(self.dense_gb)} GB dense + {_gb(self.expert_gb)} GB experts x "
            f"(1 - (1 - {k}/{e})^{batch:,}) = {_gb(self.read_gb(batch))} GB"
        )


@dataclass(frozen=True)
class Interactive:
    """Concurrent users, the context each holds, and the decode speed each must get."""

    users: int
    context_tokens: int
    tokens_per_s_per_user: float
    decode_mfu: float = 0.5
    """Fraction of dense tensor peak a batched decode step reaches when it is compute-bound."""


class Steps(Sequence[str]):
    """The arithmetic of a count, one line per step, written out when first read: the lever
    search and the audit compute thousands of counts and read the steps of none of them, and
    formatting them was a fifth of a count's time. Equal to the tuple of its lines."""

    __slots__ = ("_write", "_lines")

    def __init__(self, write: Callable[[], Iterable[str]]) -> None:
        self._write: Callable[[], Iterable[str]] | None = write
        self._lines: tuple[str, ...] | None = None

    def lines(self) -> tuple[str, ...]:
        if self._lines is None:
            assert self._write is not None
            self._lines = tuple(self._write())
            self._write = None  # what it captured is no longer needed
        return self._lines

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[str, ...]: ...
    def __getitem__(self, index: int | slice) -> str | tuple[str, ...]:
        return self.lines()[index]

    def __len__(self) -> int:
        return len(self.lines())

    def __iter__(self) -> Iterator[str]:
        return iter(self.lines())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Steps):
            return self.lines() == other.lines()
        if isinstance(other, tuple):
            return self.lines() == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.lines())

    def __repr__(self) -> str:
        return repr(self.lines())

    def __reduce__(self) -> tuple[Any, ...]:
        return (_written, (self.lines(),))


def _written(lines: tuple[str, ...]) -> Steps:
    return Steps(lambda: lines)


@dataclass(frozen=True)
class Count:
    """A count of GPUs and what set it, with the capacity it buys and the arithmetic shown."""

    gpus: int
    set_by: str
    tensor_parallel: int = 1
    replicas: int = 1
    tokens_per_s: float | None = None
    tokens_per_s_per_user: float | None = None
    users_served: int | None = None
    train_days: float | None = None
    kv_cache_gb: float | None = None
    flops: float | None = None
    memory_gpus: int | None = None
    """The fewest GPUs whose memory holds one copy of the model (and one user's KV cache);
    None when no group the links carry does."""
    steps: Sequence[str] = ()
    demanded: int | None = None
    """GPUs the demand needs before rounding up to whole purchase units (the scale of the job)."""
    shortfall: str | None = None
    """Set when no count of this device meets the demand; the reason, with the numbers."""
    deadline_missed: str | None = None
    """Set when the budget buys fewer GPUs than the deadline needs: the count is the best the
    budget can do, and this says how long it takes."""

    @property
    def meets_demand(self) -> bool:
        return self.shortfall is None


@dataclass
class _Replica:
    degree: int
    users_by_memory: int
    users_by_speed: int
    speed_one_user: float

    @property
    def users(self) -> int:
        return min(self.users_by_memory, self.users_by_speed)


def decode_step_s(
    hw: Hardware,
    model: ServedModel,
    degree: int,
    batch: int,
    kv_gb_per_user: float,
    decode_mfu: float,
) -> float:
    """Seconds per decode step of ``batch`` users on ``degree`` GPUs: the slower of reading
    (the weights the step touches once, every user's KV cache) and computing (2 FLOPs per active
    parameter)."""
    mbu = hw.mbu_for(degree)
    read_s = (model.read_gb(batch) + batch * kv_gb_per_user) / (degree * hw.bandwidth_gbs * mbu)
    if not hw.dense_tflops:
        return read_s
    compute_s = (
        batch * 2 * model.active_params_b * 1e9 / (degree * hw.dense_tflops * 1e12 * decode_mfu)
    )
    return max(read_s, compute_s)


MOST_USERS_PER_REPLICA = 1_000_000
"""The batch the searches stop at: a replica never serves more users than this."""


def largest_batch_read_within(model: ServedModel, kv_gb_per_user: float, budget_gb: float) -> int:
    """The largest batch b whose step reads at most ``budget_gb``: read(b) + b x kv <= budget.

    read(b) + b x kv never falls as b grows (more tokens touch at least as many experts, and each
    adds its KV cache), so the batches that fit are 0..b*: doubling finds a batch that does not
    fit, bisection the last one that does. 0 when even one user does not fit. A step over the
    budget by rounding only (1e-12 of it) still fits, as the dense closed form's floor allows."""

    def fits(batch: int) -> bool:
        return model.read_gb(batch) + batch * kv_gb_per_user <= budget_gb * (1 + 1e-12)

    if not fits(1):
        return 0
    low, high = 1, 2
    while fits(high):
        if high >= MOST_USERS_PER_REPLICA:
            return MOST_USERS_PER_REPLICA
        low, high = high, high * 2
    while high - low > 1:  # fits(low), not fits(high)
        middle = (low + high) // 2
        if fits(middle):
            low = middle
        else:
            high = middle
    return low


def _replica(hw: Hardware, model: ServedModel, demand: Interactive, degree: int) -> _Replica | None:
    """How many users one replica of ``degree`` GPUs holds in memory and serves at speed."""
    kv_per_user = model.kv_gb_per_token * demand.context_tokens
    free_gb = degree * (hw.usable_memory_gb - model.overhead_gb_per_gpu) - model.weights_gb
    if free_gb <= 0:
        return None
    by_memory = math.floor(free_gb / kv_per_user) if kv_per_user > 0 else MOST_USERS_PER_REPLICA
    target_step = 1.0 / demand.tokens_per_s_per_user
    speed_one = 1.0 / decode_step_s(hw, model, degree, 1, kv_per_user, demand.decode_mfu)
    # Largest batch whose step stays within the target: both bounds are linear in the batch for
    # a dense model; a mixture's read grows with the experts touched, so it is searched.
    mbu = hw.mbu_for(degree)
    budget_gb = target_step * degree * hw.bandwidth_gbs * mbu
    if model.is_moe:
        by_read: float = largest_batch_read_within(model, kv_per_user, budget_gb)
    else:
        by_read = (budget_gb - model.weights_gb) / kv_per_user if kv_per_user > 0 else math.inf
    by_compute = (
        (
            target_step
            * degree
            * hw.dense_tflops
            * 1e12
            * demand.decode_mfu
            / (2 * model.active_params_b * 1e9)
        )
        if hw.dense_tflops
        else math.inf
    )
    by_speed = math.floor(min(by_read, by_compute) + 1e-9)
    return _Replica(degree, by_memory, max(0, min(by_speed, MOST_USERS_PER_REPLICA)), speed_one)


def _kv_step(model: ServedModel, demand: Interactive) -> str:
    kv_per_user = model.kv_gb_per_token * demand.context_tokens
    return (
        f"KV cache per user = {_gb(model.kv_gb_per_token * 1e3, 4)} MB/token x "
        f"{demand.context_tokens:,} tokens = {_gb(kv_per_user)} GB; for {demand.users:,} "
        f"user{'' if demand.users == 1 else 's'} {_gb(kv_per_user * demand.users)} GB"
    )


@lru_cache(maxsize=COUNTS_REMEMBERED)
def interactive_count(hw: Hardware, model: ServedModel, demand: Interactive) -> Count:
    """GPUs for ``demand.users`` concurrent users at the per-user speed asked for."""
    kv_per_user = model.kv_gb_per_token * demand.context_tokens
    kv_total = kv_per_user * demand.users
    options: list[tuple[int, _Replica, int]] = []
    replicas_seen: list[_Replica] = []
    for degree in hw.tensor_parallel_degrees:
        replica = _replica(hw, model, demand, degree)
        if replica is None:
            continue
        replicas_seen.append(replica)
        if replica.users < 1:
            continue
        replicas = math.ceil(demand.users / replica.users)
        units = _round_up(replicas * degree, hw.gpus_per_unit)
        options.append((units, replica, replicas))
        # GPUs bought in whole units serve as many replicas as they hold.
    if not options:
        return _interactive_shortfall(hw, model, demand, replicas_seen, kv_total)
    if not any(
        r.users_by_memory >= 1 for r in replicas_seen
    ):  # pragma: no cover - options imply it
        raise AssertionError("a replica serves users it cannot hold")
    memory_gpus = min(r.degree for r in replicas_seen if r.users_by_memory >= 1)
    # The fewest GPUs bought (whole purchase units); among equal counts, the split that needs
    # the fewest for the demand, then the smaller group. The bought GPUs all serve.
    gpus, best, replicas = min(options, key=lambda o: (o[0], o[2] * o[1].degree, o[1].degree))
    raw = replicas * best.degree
    bought_replicas = gpus // best.degree
    batch = math.ceil(demand.users / bought_replicas)
    speed = 1.0 / decode_step_s(hw, model, best.degree, batch, kv_per_user, demand.decode_mfu)

    def write() -> list[str]:
        return [
            _kv_step(model, demand),
            f"one replica = {best.degree} GPU(s): memory holds {best.users_by_memory:,} users "
            f"({_gb(best.degree * (hw.usable_memory_gb - model.overhead_gb_per_gpu))} GB usable"
            f" - {_gb(model.weights_gb)} GB weights, / {_gb(kv_per_user)} GB each); speed "
            f"allows {best.users_by_speed:,} users at {_n(demand.tokens_per_s_per_user)} "
            "tokens/s each "
            + (
                f"(each step reads the dense weights and the experts its users' tokens route "
                f"to, read(b) = {model.read_formula()}; at b = {best.users_by_speed:,}: "
                f"{model.read_formula(best.users_by_speed)}; and every user's KV cache at "
                if model.is_moe
                else "(each step reads the weights once and every user's KV cache at "
            )
            + f"{_n(hw.bandwidth_gbs * hw.mbu_for(best.degree))} GB/s "
            f"per GPU)",
            f"replicas = ceil({demand.users:,} / {best.users:,}) = {replicas:,}; GPUs = "
            f"{replicas:,} x {best.degree} = {raw:,}"
            + (
                f", rounded up to {gpus:,} ({hw.gpus_per_unit} per unit): {bought_replicas:,} "
                f"replicas serving up to {bought_replicas * best.users:,} users"
                if gpus != raw
                else ""
            ),
        ]

    if gpus != raw:
        set_by = "purchase_unit"
    elif replicas == 1 and best.degree == 1:
        set_by = "minimum"
    elif replicas == 1:
        # one copy: memory set its size unless it is split wider than memory needs, for speed
        set_by = "memory" if best.degree == memory_gpus else "throughput"
    else:
        set_by = "kv_cache" if best.users_by_memory < best.users_by_speed else "throughput"
    return Count(
        gpus=gpus,
        set_by=set_by,
        tensor_parallel=best.degree,
        replicas=bought_replicas,
        tokens_per_s=round(speed * demand.users, 1),
        tokens_per_s_per_user=round(speed, 2),
        users_served=bought_replicas * best.users,
        demanded=min(o[2] * o[1].degree for o in options),
        kv_cache_gb=round(kv_total, 2),
        memory_gpus=memory_gpus,
        steps=Steps(write),
    )


def _interactive_shortfall(
    hw: Hardware,
    model: ServedModel,
    demand: Interactive,
    seen: list[_Replica],
    kv_total: float,
) -> Count:
    largest = max(hw.tensor_parallel_degrees)
    holding = [r.degree for r in seen if r.users_by_memory >= 1]
    if not holding:
        reason = (
            f"{_gb(model.weights_gb)} GB of weights and one user's "
            f"{_gb(model.kv_gb_per_token * demand.context_tokens)} GB KV cache do not fit on "
            f"{largest} GPU(s) of {_gb(hw.usable_memory_gb)} GB usable, the largest group its "
            f"links carry"
        )
    else:
        fastest = max((r for r in seen if r.users_by_memory >= 1), key=lambda r: r.speed_one_user)
        reason = (
            f"one user gets at most {_n(fastest.speed_one_user)} tokens/s on "
            f"{fastest.degree} GPU(s) (memory-bandwidth bound), below the "
            f"{_n(demand.tokens_per_s_per_user)} tokens/s asked, however many are bought"
        )
    return Count(
        gpus=0,
        set_by="throughput" if holding else "memory",
        kv_cache_gb=round(kv_total, 2),
        memory_gpus=min(holding) if holding else None,
        steps=Steps(lambda: [_kv_step(model, demand)]),
        shortfall=reason,
    )


@lru_cache(maxsize=COUNTS_REMEMBERED)
def batch_count(
    hw: Hardware,
    model: ServedModel,
    tokens_per_day: float,
    context_tokens: int,
    decode_mfu: float = 0.5,
) -> Count:
    """GPUs for an offline job of ``tokens_per_day`` generated tokens: each replica decodes as
    many sequences at once as its memory holds, as fast as the roofline lets it."""
    kv_per_seq = model.kv_gb_per_token * context_tokens
    target = tokens_per_day / SECONDS_PER_DAY
    steps: list[Callable[[], str]] = [
        lambda: f"target = {_n(tokens_per_day)} tokens/day / 86,400 s = {_n(target)} tokens/s"
    ]
    options: list[tuple[int, int, int, int, float]] = []
    for degree in hw.tensor_parallel_degrees:
        free_gb = degree * (hw.usable_memory_gb - model.overhead_gb_per_gpu) - model.weights_gb
        batch = math.floor(free_gb / kv_per_seq) if free_gb > 0 and kv_per_seq > 0 else 0
        if batch < 1:
            continue
        rate = batch / decode_step_s(hw, model, degree, batch, kv_per_seq, decode_mfu)
        replicas = max(1, math.ceil(target / rate - 1e-9))
        options.append(
            (_round_up(replicas * degree, hw.gpus_per_unit), degree, replicas, batch, rate)
        )
    if not options:
        return Count(
            gpus=0,
            set_by="memory",
            steps=Steps(partial(_lines, steps)),
            shortfall=f"{_gb(model.weights_gb)} GB of weights and one sequence's KV cache "
            f"fit on no group of {max(hw.tensor_parallel_degrees)} GPU(s)",
        )
    gpus, degree, replicas, batch, rate = min(options)
    demanded = min(o[1] * o[2] for o in options)
    memory_gpus = min(o[1] for o in options)
    steps.append(
        lambda: (
            f"one replica = {degree} GPU(s) decodes {batch:,} sequences at once (what its "
            f"memory holds): {_n(rate)} tokens/s"
            + (f"; each step reads {model.read_formula(batch)} of weights" if model.is_moe else "")
        )
    )
    steps.append(
        lambda: f"replicas = ceil({_n(target)} / {_n(rate)}) = {replicas:,}; GPUs = {gpus:,}"
    )
    set_by = "throughput" if replicas > 1 else ("memory" if degree > 1 else "minimum")
    return Count(
        gpus=gpus,
        set_by=set_by,
        tensor_parallel=degree,
        replicas=replicas,
        tokens_per_s=round(rate * replicas, 1),
        memory_gpus=memory_gpus,
        demanded=demanded,
        steps=Steps(partial(_lines, steps)),
    )


@dataclass(frozen=True)
class Training:
    """A training run: its FLOPs and the time it may take."""

    params_b: float
    tokens_b: float
    flops_per_param_token: float
    """6 for full training (forward 2, backward 4), 4 for LoRA (no weight gradients of the base)."""
    mfu: float
    deadline_days: float | None
    time_factor: float = 1.0
    """Extra wall time beyond the FLOPs (QLoRA's dequantization), 1.0 when none."""
    assumptions: tuple[str, ...] = field(default=())

    @property
    def flops(self) -> float:
        return self.flops_per_param_token * self.params_b * 1e9 * self.tokens_b * 1e9


def train_days(run: Training, hw: Hardware, gpus: int) -> float:
    """Days the run takes on ``gpus`` GPUs at the run's utilization."""
    assert hw.dense_tflops, "training time needs a dense throughput figure"
    per_s = gpus * hw.dense_tflops * 1e12 * run.mfu
    return run.flops * run.time_factor / per_s / SECONDS_PER_DAY


@lru_cache(maxsize=COUNTS_REMEMBERED)
def training_count(
    run: Training,
    hw: Hardware,
    memory_gpus: int,
    cap: int | None = None,
    affordable: int | None = None,
) -> Count:
    """GPUs to finish ``run`` by its deadline, never fewer than ``memory_gpus`` (what holds the
    model state with the sharding asked for). ``cap`` is the user's limit, ``affordable`` what the
    budget buys; when either stops short of the deadline, the count is the best they allow and
    ``train_days`` says how long that takes."""
    flops = run.flops
    steps: list[Callable[[], str]] = [
        lambda: (
            f"training FLOPs = {_n(run.flops_per_param_token)} x {_n(run.params_b)}e9 params x "
            f"{_n(run.tokens_b)}e9 tokens = {flops:.3g}"
        )
    ]
    if not hw.dense_tflops:
        return Count(
            gpus=0,
            set_by="throughput",
            flops=flops,
            steps=Steps(partial(_lines, steps)),
            shortfall="no dense throughput figure at the training precision",
        )
    rate = hw.dense_tflops * 1e12 * run.mfu
    steps.append(
        lambda: (
            f"one GPU delivers {_n(hw.dense_tflops)} TFLOPS dense x {_n(run.mfu)} MFU = "
            f"{rate:.3g} FLOP/s"
            + (f"; x{_n(run.time_factor)} wall time" if run.time_factor != 1 else "")
        )
    )
    set_by = "memory" if memory_gpus > 1 else "minimum"
    gpus = memory_gpus
    if run.deadline_days:
        by_deadline = math.ceil(
            flops * run.time_factor / (rate * run.deadline_days * SECONDS_PER_DAY) - 1e-9
        )
        steps.append(
            lambda: (
                f"GPUs for {_n(run.deadline_days)} days = ceil({flops:.3g} / ({rate:.3g} x "
                f"{_n(run.deadline_days)} x 86,400 s)) = {by_deadline:,}"
            )
        )
        if by_deadline > gpus:
            gpus, set_by = by_deadline, "deadline"
    demanded = gpus
    rounded = _round_up(gpus, hw.gpus_per_unit)
    if rounded != gpus:
        if hw.unit_is_purchase:
            steps.append(
                lambda: f"rounded up to {rounded:,} ({hw.gpus_per_unit} GPUs per purchase unit)"
            )
            gpus, set_by = rounded, "purchase_unit"
        else:
            steps.append(
                lambda: (
                    f"rounded up to {rounded:,} (whole tensor-parallel groups of "
                    f"{hw.gpus_per_unit})"
                )
            )
            gpus = rounded
    shortfall = None
    missed = None
    if cap is not None and gpus > cap:
        # The cap is the user's limit: a device that needs more to finish in time is out.
        days = train_days(run, hw, (cap // hw.gpus_per_unit) * hw.gpus_per_unit or cap)
        shortfall = (
            f"the run needs {gpus:,} GPUs to finish in {_n(run.deadline_days or 0)} days; "
            f"the cap of {cap:,} (max_gpus) would take {_n(days)} days"
            if cap >= memory_gpus
            else f"the cap of {cap:,} GPUs (max_gpus) is fewer than the {memory_gpus:,} that hold "
            f"the model state"
        )
    elif affordable is not None and gpus > affordable:
        allowed = (affordable // hw.gpus_per_unit) * hw.gpus_per_unit
        if allowed >= memory_gpus:  # below that the budget rules exclude the device
            gpus, set_by = allowed, "budget"
            days = train_days(run, hw, gpus)
            steps.append(lambda: f"the budget stops at {allowed:,} GPUs")
            if run.deadline_days and days > run.deadline_days:
                missed = (
                    f"the budget buys {allowed:,} GPUs, which take {_n(days)} days, past the "
                    f"{_n(run.deadline_days)}-day deadline"
                )
    days = train_days(run, hw, gpus) if gpus and shortfall is None else None
    if days is not None:
        steps.append(
            lambda: f"on {gpus:,} GPU{'' if gpus == 1 else 's'} the run takes {_n(days)} days"
        )
    return Count(
        gpus=gpus if shortfall is None else 0,
        set_by=set_by,
        train_days=None if days is None else round(days, 2),
        flops=flops,
        steps=Steps(partial(_lines, steps)),
        shortfall=shortfall,
        deadline_missed=missed,
        demanded=demanded,
    )


def _round_up(gpus: int, per_unit: int) -> int:
    return per_unit * math.ceil(gpus / per_unit) if per_unit > 1 else gpus


def _lines(steps: list[Callable[[], str]]) -> list[str]:
    return [step() for step in steps]


def _gb(value: float, digits: int = 1) -> str:
    return f"{value:,.{digits}f}"


def _n(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.3g}"
