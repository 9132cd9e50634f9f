"""The run step's output folder: always the same 8 files, summary.md rewritten after every step
(and when a step starts, naming it), so a call killed at any moment still returns a readable
summary of what was measured. Sections are kept in the order the steps ran."""
import os
import threading
import time
from typing import Dict, List, Tuple

OUT_FILES = ["summary.md", "manifest.txt", "tests.log", "parity.txt", "bench.txt", "bench.json",
             "train.log", "ncu.txt"]


class Report:
    def __init__(self, out_dir: str, header: List[str], budget):
        self.out = out_dir
        self.header = header
        self.budget = budget
        self.rows: Dict[str, Tuple[str, str]] = {}  # step -> (result, seconds), in run order
        self.sections: Dict[str, str] = {}
        self.lock = threading.RLock()  # the tests step writes from its worker threads
        self.failed = False
        os.makedirs(out_dir, exist_ok=True)
        for name in OUT_FILES:
            self.write_file(name, f"not reached: the run ended before the step that writes {name} "
                                  "(see summary.md)\n")
        self.write_file("bench.json", "[]\n")
        self.write_summary()

    def path(self, name: str) -> str:
        return os.path.join(self.out, name)

    def write_file(self, name: str, text: str) -> None:
        """Replaces an output file whole (through a rename: a reader never sees half of it)."""
        tmp = self.path(name) + ".part"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.path(name))

    def append(self, name: str, text: str) -> None:
        with self.lock, open(self.path(name), "a") as f:
            f.write(text)

    def start(self, step: str) -> None:
        with self.lock:
            self.rows[step] = (f"running (started at {self.budget.elapsed():.0f} s; a call killed "
                               "now ends here)", "")
            self.write_summary()

    def record(self, step: str, result: str, seconds: float, failed: bool = False) -> None:
        with self.lock:
            self.rows[step] = (result.replace("|", "/"), f"{seconds:.0f}")
            self.failed = self.failed or failed
            self.write_summary()

    def section(self, step: str, text: str) -> None:
        with self.lock:
            self.sections[step] = text.rstrip("\n") + "\n"
            self.write_summary()

    def write_summary(self) -> None:
        with self.lock:
            lines = list(self.header)
            lines.append(f"- elapsed: {self.budget.elapsed():.0f} s of the {self.budget.total:.0f} s "
                         f"budget ({time.strftime('%H:%MZ', time.gmtime())})")
            lines += ["", "| step | result | seconds |", "|---|---|---|"]
            lines += [f"| {step} | {result} | {secs} |" for step, (result, secs) in self.rows.items()]
            lines.append("")
            for text in self.sections.values():
                lines += [text]
            lines.append("Files: " + " ".join(OUT_FILES))
            self.write_file("summary.md", "\n".join(lines) + "\n")
