"""What the run step's parts share: where the bundle, binaries, output and scratch folders are,
the device kind, the settings, the budget, the report, and the environment child processes get
(LD_LIBRARY_PATH and GQ_DATA_DIR, set by the first steps)."""
import os
from dataclasses import dataclass, field
from typing import Dict, List, Tuple

from .budget import Budget
from .report import Report
from .settings import Settings


@dataclass
class RunContext:
    bundle: str              # the bundle folder (absolute)
    kind: str                # "gpu" or "emulator" (the manifest's device line)
    quick: bool
    work: str                # scratch folder, removed at the end
    budget: Budget
    report: Report
    settings: Settings
    bin: str = ""            # the binaries (the unpacked payload's bin/, or the bundle's bin/)
    lib: str = ""            # the payload's lib/
    compute_mode: str = "Default"
    env: Dict[str, str] = field(default_factory=lambda: dict(os.environ))
    bench_runs: List[Tuple[str, str]] = field(default_factory=list)  # (binary, its JSON output)

    def binary(self, name: str) -> str:
        return os.path.join(self.bin, name)

    def manifest(self, key: str) -> str:
        from .common import manifest_value
        return manifest_value(os.path.join(self.bundle, "manifest.txt"), key)

    @property
    def gpu(self) -> bool:
        return self.kind == "gpu"
