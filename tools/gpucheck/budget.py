"""The run step's time budget: the whole run has `total` seconds; each step gets its own timeout,
at most its planned share and never more than what is left, so the most informative steps (run
first) take what they need and the last ones are cut or skipped."""
import time

# Less than this left: a step or a command is skipped ("out of time") rather than started.
MIN_START_S = 5


class Budget:
    def __init__(self, total_s: float):
        self.total = float(total_s)
        self.start = time.monotonic()
        self.step_end = self.start + self.total

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def left(self) -> float:
        """Seconds left to the current step (its share, bounded by the whole run's)."""
        now = time.monotonic()
        return max(0.0, min(self.start + self.total, self.step_end) - now)

    def begin_step(self, share_s: float) -> float:
        """Starts a step that may take `share_s` seconds; returns the seconds it really has."""
        now = time.monotonic()
        self.step_end = min(self.start + self.total, now + share_s)
        return self.left()

    def extend_step(self, extra_s: float) -> None:
        """Gives the current step up to `extra_s` more seconds of the run's (a failing test's
        rerun is worth more than the benchmarks after it)."""
        self.step_end = min(self.start + self.total, self.step_end + extra_s)

    def cap(self, want_s: float) -> float:
        """A timeout for one command of the current step: `want_s`, or less if the step ends
        sooner."""
        return min(float(want_s), self.left())

    def out_of_time(self) -> bool:
        return self.left() < MIN_START_S
