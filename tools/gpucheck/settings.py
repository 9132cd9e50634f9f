"""The run step's settings: each step's share of the time budget (the order is the order of what
a step tells: a driver that refuses something first, host re-checks last), and the workload sizes
per device (the GPU, the emulator standing in for it, --quick)."""
from dataclasses import dataclass, field
from typing import Dict

DEFAULT_BUDGET_S = 360  # of the ~10 min a device call may take; see docs/PROFILING.md

# Seconds each step may take at most (less when the budget has less left), in run order.
STEP_SHARES: Dict[str, float] = {
    "smoke": 60,               # unpack, libraries, nvidia-smi, gq-gpu-smoke
    "data": 30,
    "tests": 110,              # GPU test binaries; a failing one's rerun may take 45 s more
    "parity": 45,
    "train": 50,               # plain and Grad Queue on the CIFAR-10 subset
    "airbench94": 90,          # the recipe in fp32 and in bf16: their times to the last epoch
    "step benchmark": 70,      # gq-bench, fp32 and bf16
    "kernel benchmarks": 40,
    "ncu": 80,
    "host suites": 1e9,        # the shell suites and host-only tests: whatever is left
}
RERUN_EXTRA_S = 45


@dataclass
class Settings:
    test_parallel: int = 6        # test binaries at once (1 when the compute mode is not Default)
    test_timeout: float = 100
    bench_batch: str = "512,2048"
    bench_k: str = "4,16"
    bench_precision: str = "fp32,bf16"  # GQ_BENCH_PRECISION: each variant in both
    bench_min_time: float = 1.0
    kernel_min_time: float = 0.1
    train_args: list = field(default_factory=lambda: ["--batch-size", "256", "--epochs", "8", "--log-every", "5"])
    recipe_args: list = field(default_factory=list)  # the recipe's own batch and epochs
    cifar_train: int = 5000
    cifar_test: int = 1000
    ncu: bool = True


def settings_for(kind: str, quick: bool, cifar_train: int, cifar_test: int) -> Settings:
    s = Settings(cifar_train=cifar_train, cifar_test=cifar_test)
    if kind == "emulator":  # smaller sizes: the CPU is ~100x slower than the GPU
        s = Settings(test_parallel=2, test_timeout=300, bench_batch="32", bench_k="2",
                     bench_min_time=0.05, kernel_min_time=0.01, cifar_train=512, cifar_test=256,
                     train_args=["--batch-size", "64", "--epochs", "1", "--max-steps", "12",
                                 "--log-every", "4"], ncu=False,
                     recipe_args=["--batch-size", "64", "--max-steps", "4"])
    if quick:
        s.test_timeout, s.bench_batch, s.bench_min_time = 60, "8", 0.01
        s.train_args = ["--batch-size", "8", "--epochs", "1", "--max-steps", "3", "--log-every", "1"]
        s.cifar_train, s.cifar_test = 64, 16
        s.recipe_args = ["--batch-size", "8", "--max-steps", "2"]
    return s
