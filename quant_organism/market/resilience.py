"""Retry with exponential backoff and jitter, and a circuit breaker: generic, plain Python.

Why both: retries ride out a brief hiccup (a 429, a dropped connection); the breaker stops a client
from hammering an endpoint that keeps failing, so a backfill over many partitions fails fast with one
clear error instead of spending minutes per partition on doomed retries. Time and randomness are
injected (`sleep`, `clock`, `rng`) so tests run instantly and deterministically.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


class CircuitOpenError(RuntimeError):
    """The breaker is open: the call was refused without touching the endpoint."""

    def __init__(self, message: str, retry_in: float, attempts: int = 0) -> None:
        super().__init__(message)
        self.retry_in = retry_in
        self.attempts = attempts  # attempts this call made before the breaker refused (0: none)


class RetryExhaustedError(RuntimeError):
    """Every attempt failed with a retryable error; `last_error` is the final one."""

    def __init__(self, attempts: int, last_error: BaseException) -> None:
        super().__init__(f"gave up after {attempts} attempt(s): {last_error!r}")
        self.attempts = attempts
        self.last_error = last_error


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry.

    The n-th retry waits `base_delay * multiplier**(n-1)`, capped at `max_delay`, then shortened by a
    random fraction up to `jitter` (so many clients that failed together do not retry together).
    """

    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    multiplier: float = 2.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")
        if self.base_delay < 0 or self.max_delay < 0:
            raise ValueError(f"delays must be >= 0, got base_delay={self.base_delay}, max_delay={self.max_delay}")
        if self.multiplier < 1:
            raise ValueError(f"multiplier must be >= 1, got {self.multiplier}")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"jitter must lie in [0, 1], got {self.jitter}")

    def backoff(self, retry: int, rng: random.Random) -> float:
        """Seconds to wait before retry number `retry` (1 = the first retry)."""
        ceiling = min(self.max_delay, self.base_delay * self.multiplier ** (retry - 1))
        return ceiling * (1.0 - self.jitter * rng.random())


class CircuitBreaker:
    """Closed → (failure_threshold consecutive failures) → open → (reset_timeout) → half-open.

    While open, calls are refused with CircuitOpenError. Half-open lets one trial call through:
    success closes the circuit, failure opens it again for another `reset_timeout`. Thread-safe.
    """

    def __init__(
        self,
        failure_threshold: int = 5,
        reset_timeout: float = 30.0,
        *,
        name: str = "circuit",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError(f"failure_threshold must be >= 1, got {failure_threshold}")
        if reset_timeout < 0:
            raise ValueError(f"reset_timeout must be >= 0, got {reset_timeout}")
        self.failure_threshold = failure_threshold
        self.reset_timeout = reset_timeout
        self.name = name
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_in_flight = False
        self.last_failure: str | None = None
        self.last_error: BaseException | None = None  # the failure itself: callers that refuse fast can say what kind

    @property
    def state(self) -> str:
        with self._lock:
            return self._state_locked()

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    def _state_locked(self) -> str:
        if self._opened_at is None:
            return CLOSED
        if self._clock() - self._opened_at >= self.reset_timeout:
            return HALF_OPEN
        return OPEN

    def before_call(self) -> None:
        """Admit a call or raise CircuitOpenError; in half-open, admit only one trial at a time."""
        with self._lock:
            state = self._state_locked()
            if state == CLOSED:
                return
            if state == HALF_OPEN and not self._trial_in_flight:
                self._trial_in_flight = True
                return
            assert self._opened_at is not None
            retry_in = max(0.0, self.reset_timeout - (self._clock() - self._opened_at))
            detail = f" (last failure: {self.last_failure})" if self.last_failure else ""
            raise CircuitOpenError(
                f"circuit {self.name!r} is open after {self._failures} consecutive failure(s){detail}; "
                f"failing fast, next trial in {retry_in:.1f}s",
                retry_in,
            )

    def record_success(self) -> None:
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._trial_in_flight = False

    def record_failure(self, description: str | None = None, error: BaseException | None = None) -> None:
        with self._lock:
            self._failures += 1
            if description:
                self.last_failure = description
            if error is not None:
                self.last_error = error
            if self._trial_in_flight or self._failures >= self.failure_threshold:
                self._opened_at = self._clock()
            self._trial_in_flight = False

    def call(
        self,
        fn: Callable[[], T],
        *,
        is_failure: Callable[[BaseException], bool] = lambda exc: True,
        describe: Callable[[BaseException], str] = repr,
    ) -> T:
        """Run `fn` under the breaker. Exceptions for which `is_failure` is False (e.g. a 4xx: the
        endpoint answered, the request was wrong) count as the endpoint being healthy."""
        self.before_call()
        try:
            result = fn()
        except BaseException as exc:
            if isinstance(exc, Exception) and is_failure(exc):
                self.record_failure(describe(exc), exc)
            else:
                self.record_success()
            raise
        self.record_success()
        return result


def retry_call(
    fn: Callable[[], T],
    *,
    policy: RetryPolicy,
    is_retryable: Callable[[BaseException], bool],
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
    breaker: CircuitBreaker | None = None,
    retry_after: Callable[[BaseException], float | None] = lambda exc: None,
    describe: Callable[[BaseException], str] = repr,
    on_retry: Callable[[int, BaseException, float], None] | None = None,
) -> T:
    """Call `fn` until it succeeds, a non-retryable error occurs, or attempts run out.

    Each attempt passes through `breaker` (retryable errors count as failures). Raises the
    non-retryable error as is, CircuitOpenError when the breaker refuses (including when this call's
    own failures just opened it: no point sleeping), or RetryExhaustedError. A server hint
    (`retry_after`, e.g. a Retry-After header) lengthens the wait, never beyond `policy.max_delay`.
    """
    rng = rng or random.Random()
    attempt = 0
    while True:
        attempt += 1
        try:
            if breaker is None:
                return fn()
            return breaker.call(fn, is_failure=is_retryable, describe=describe)
        except CircuitOpenError as exc:
            exc.attempts = exc.attempts or attempt - 1
            raise
        except Exception as exc:
            if not is_retryable(exc):
                raise
            if breaker is not None and breaker.state == OPEN:
                raise CircuitOpenError(
                    f"circuit {breaker.name!r} opened after {breaker.consecutive_failures} consecutive "
                    f"failure(s) (last: {describe(exc)}); failing fast for {breaker.reset_timeout:.1f}s",
                    breaker.reset_timeout,
                    attempts=attempt,
                ) from exc
            if attempt >= policy.max_attempts:
                raise RetryExhaustedError(attempt, exc) from exc
            delay = policy.backoff(attempt, rng)
            hint = retry_after(exc)
            if hint is not None:
                delay = min(policy.max_delay, max(delay, hint))
            if on_retry is not None:
                on_retry(attempt, exc, delay)
            sleep(delay)
