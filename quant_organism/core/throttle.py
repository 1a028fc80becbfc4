"""At most one write a second: the live feed and session rewrite their state files on events, not on every one."""


class Throttle:
    """`due(now)` is true when `seconds` of the monotonic clock have passed since the last true answer, or when forced."""

    def __init__(self, seconds: float = 1.0) -> None:
        self.seconds = seconds
        self.last = 0.0

    def due(self, now: float, force: bool = False) -> bool:
        if not force and now - self.last < self.seconds:
            return False
        self.last = now
        return True
