#!/usr/bin/env python3
"""Parts of tools/gpu_check.py that the dry run cannot reach without a GPU, checked here:
the CUDA library search (NVIDIA's wheel layout for CUDA 13 / cuDNN 9, a toolkit, nothing) and
what the run step puts on LD_LIBRARY_PATH; the rerun of a failing GPU test with synchronised
launches; one test binary at a time when the compute mode is not Default; the budget; the
report's files from the first moment. Standard library only: python3 test_gpu_check_units.py."""
import io
import os
import subprocess
import sys
import tempfile
import unittest
from contextlib import redirect_stdout

TOOLS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools")
sys.path.insert(0, TOOLS)
from gpucheck import libs, step_env, step_tests  # noqa: E402
from gpucheck.budget import Budget  # noqa: E402
from gpucheck.context import RunContext  # noqa: E402
from gpucheck.report import OUT_FILES, Report  # noqa: E402
from gpucheck.settings import settings_for  # noqa: E402

# The shared libraries NVIDIA's wheels hold for CUDA 13 and cuDNN 9, by wheel folder.
WHEELS = {
    "cublas": ["libcublas.so.13", "libcublasLt.so.13", "libnvblas.so.13"],
    "cudnn": ["libcudnn.so.9", "libcudnn_adv.so.9", "libcudnn_cnn.so.9", "libcudnn_engines_precompiled.so.9",
              "libcudnn_engines_runtime_compiled.so.9", "libcudnn_graph.so.9", "libcudnn_heuristic.so.9",
              "libcudnn_ops.so.9"],
    "cuda_runtime": ["libcudart.so.13"],
    "cuda_nvrtc": ["libnvrtc.so.13", "libnvrtc-builtins.so.13.0"],
    "nvjitlink": ["libnvJitLink.so.13"],
}


def touch(path: str, text: str = "") -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    return path


def fake_site_packages(root: str) -> str:
    """site-packages with the wheels' layout, plus what must not count: a wheel folder without
    libraries, headers, Python files, and libraries outside nvidia/."""
    site = os.path.join(root, "lib", "python3.12", "site-packages")
    for wheel, names in WHEELS.items():
        touch(os.path.join(site, "nvidia", wheel, "__init__.py"))
        for name in names:
            touch(os.path.join(site, "nvidia", wheel, "lib", name))
    touch(os.path.join(site, "nvidia", "cudnn", "include", "cudnn.h"))
    os.makedirs(os.path.join(site, "nvidia", "cuda_cccl", "lib"))  # headers-only wheel: no .so
    touch(os.path.join(site, "nvidia", "cuda_cccl", "lib", "README"))
    touch(os.path.join(site, "torch", "lib", "libtorch.so"))
    return site


def wheel_dirs(site: str):
    return sorted(os.path.join(site, "nvidia", w, "lib") for w in WHEELS)


class LibrarySearch(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.root = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def test_wheels_found_exactly(self):
        site = fake_site_packages(self.root)
        self.assertEqual(libs.find_lib_dirs([site]), wheel_dirs(site))
        # The `nvidia` package folder itself (what nvidia.__path__ names) finds the same.
        self.assertEqual(libs.find_lib_dirs([os.path.join(site, "nvidia")]), wheel_dirs(site))

    def test_toolkit_first_and_each_folder_once(self):
        toolkit = os.path.join(self.root, "cuda-13.0")
        touch(os.path.join(toolkit, "lib64", "libcudart.so.13"))
        touch(os.path.join(toolkit, "targets", "x86_64-linux", "lib", "libcublas.so.13"))
        touch(os.path.join(toolkit, "bin", "nvcc"))
        os.symlink(toolkit, os.path.join(self.root, "cuda"))
        site = fake_site_packages(self.root)
        found = libs.find_lib_dirs([os.path.join(self.root, "cuda"), toolkit, site, "/nonexistent", ""])
        want = [os.path.join(self.root, "cuda", "lib64"),
                os.path.join(self.root, "cuda", "targets", "x86_64-linux", "lib")] + wheel_dirs(site)
        self.assertEqual(found, want)

    def test_nothing_found_says_where_it_looked(self):
        os.makedirs(os.path.join(self.root, "empty", "nvidia", "cudnn", "lib"))
        out = io.StringIO()
        with redirect_stdout(out):
            rc = libs.main_find_libs([os.path.join(self.root, "empty")])
        self.assertEqual(rc, 1)
        self.assertIn("no CUDA libraries found under " + os.path.join(self.root, "empty"), out.getvalue())
        self.assertIn("nvidia/*/lib", out.getvalue())

    def test_command_line(self):
        site = fake_site_packages(self.root)
        res = subprocess.run([sys.executable, os.path.join(TOOLS, "gpu_check.py"), "--find-libs", site],
                             capture_output=True, text=True)
        self.assertEqual((res.returncode, res.stdout.splitlines()), (0, wheel_dirs(site)), res.stderr)
        res = subprocess.run([sys.executable, os.path.join(TOOLS, "gpu_check.py"), "--find-libs", self.root + "/x"],
                             capture_output=True, text=True)
        self.assertEqual(res.returncode, 1)
        self.assertIn("no CUDA libraries found", res.stdout)

    def test_interpreter_site_dirs(self):
        import site
        self.assertTrue(set(site.getsitepackages()) <= set(libs._python_site_dirs(sys.executable)))
        self.assertEqual(libs._python_site_dirs(os.path.join(self.root, "no-python")), [])

    def test_missing_sonames_from_ldd_lines(self):
        lines = ["gq-train: libcudnn.so.9 => not found", "gq-parity: libcublas.so.13 => not found",
                 "gq-train: libcudnn.so.9 => not found",
                 "gq-train: /lib/libstdc++.so.6: version `GLIBCXX_3.4.32' not found (required by gq-train)"]
        self.assertEqual(libs.missing_sonames(lines), ["libcublas.so.13", "libcudnn.so.9"])


def context(root: str, kind: str = "emulator") -> RunContext:
    budget = Budget(120)
    report = Report(os.path.join(root, "out"), ["# test"], budget)
    work = os.path.join(root, "work")
    os.makedirs(os.path.join(work, "tests"), exist_ok=True)
    ctx = RunContext(bundle=root, kind=kind, quick=False, work=work, budget=budget, report=report,
                     settings=settings_for(kind, False, 5000, 1000))
    ctx.bin = os.path.join(root, "bin")
    ctx.lib = os.path.join(root, "lib")
    os.makedirs(ctx.bin, exist_ok=True)
    return ctx


class RunStepPieces(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.root = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def test_found_libraries_go_on_ld_library_path(self):
        site = fake_site_packages(self.root)
        ctx = context(self.root, kind="gpu")
        real = libs.default_roots
        libs.default_roots = lambda: [site]
        try:
            notes, _ = step_env.find_libraries(ctx)
        finally:
            libs.default_roots = real
        path = ctx.env["LD_LIBRARY_PATH"].split(":")
        self.assertEqual(path[:len(WHEELS) + 1], wheel_dirs(site) + [ctx.lib])
        self.assertIn("CUDA library folders found: " + " ".join(wheel_dirs(site)), notes)

    def fake_test(self, name: str, script: str) -> str:
        path = os.path.join(self.root, "bin", name)
        touch(path, "#!/usr/bin/env bash\n" + script)
        os.chmod(path, 0o755)
        return path

    def test_failing_gpu_test_rerun_with_synchronised_launches(self):
        ctx = context(self.root)
        self.fake_test("gq_test_fake", """
echo "args: $*"
echo "env: CUDA_LAUNCH_BLOCKING=${CUDA_LAUNCH_BLOCKING:-} GQ_SYNC_EVERY_LAUNCH=${GQ_SYNC_EVERY_LAUNCH:-}"
if [ -z "${GQ_SYNC_EVERY_LAUNCH:-}" ]; then
  echo "[  FAILED  ] Kernels.Axpy (3 ms)"; echo "[  FAILED  ] Sizes/Norm.Rows/2, where GetParam() = 2"; exit 1
fi
exit 1
""")
        touch(os.path.join(self.root, "tests.tsv"), "gq_test_fake.forward\tforward\tCUEMU_WORKERS=1\t@BIN@/gq_test_fake\n")
        result, failed = step_tests.gpu_tests(ctx)
        self.assertTrue(failed)
        self.assertIn("**1 FAILED**", result)
        with open(ctx.report.path("tests.log")) as f:
            log = f.read()
        self.assertIn("rerun of gq_test_fake.forward: 2 failing case(s)", log)
        self.assertIn("args: --gtest_filter=Kernels.Axpy:Sizes/Norm.Rows/2\n", log)
        self.assertIn("env: CUDA_LAUNCH_BLOCKING=1 GQ_SYNC_EVERY_LAUNCH=1", log)
        self.assertIn("args: --gtest_brief=1\n", log)  # the first run: brief, no sync
        with open(ctx.report.path("summary.md")) as f:
            self.assertIn("failed again (exit 1; tests.log)", f.read())

    def test_crash_rerun_names_the_case_it_stopped_in(self):
        ctx = context(self.root)
        self.fake_test("gq_test_crash", """
[ "$1" = --gtest_brief=1 ] || { echo "[ RUN      ] Fine.Case"; echo "[       OK ] Fine.Case (1 ms)"; echo "[ RUN      ] Graph.Replay"; }
kill -SEGV $$
""")
        touch(os.path.join(self.root, "tests.tsv"), "gq_test_crash\tgpu\t-\t@BIN@/gq_test_crash\n"
                                                   "gq_test_gone\tgpu\t-\t@BIN@/gq_test_gone\n")
        result, failed = step_tests.gpu_tests(ctx)
        self.assertEqual((result, failed), ("**2 FAILED**, 0 passed, 0 cut short, 0 skipped", True))
        with open(ctx.report.path("summary.md")) as f:
            text = f.read()
        self.assertIn("| gq_test_crash | **FAIL** (signal SIGSEGV)", text)
        self.assertIn("rerun of the whole suite (no case was named: a crash or a hang?) with synchronised "
                      "launches: failed again (signal SIGSEGV; stopped in Graph.Replay; tests.log)", text)
        self.assertIn("| gq_test_gone | **FAIL** (exit 127) | 0 |", text)
        self.assertIn("no rerun: the binary could not be started", text)

    def test_one_at_a_time_unless_compute_mode_default(self):
        ctx = context(self.root)
        guard = os.path.join(self.root, "running")
        body = f'[ -e {guard} ] && {{ echo overlap; exit 3; }}; touch {guard}; sleep 0.3; rm {guard}\n'
        lines = []
        for i in range(3):
            self.fake_test(f"gq_test_t{i}", body)
            lines.append(f"gq_test_t{i}.forward\tforward\t-\t@BIN@/gq_test_t{i}\n")
        touch(os.path.join(self.root, "tests.tsv"), "".join(lines))
        ctx.compute_mode = "Exclusive_Process"
        result, failed = step_tests.gpu_tests(ctx)
        self.assertEqual((result, failed), ("3 passed, 0 cut short, 0 skipped", False))
        with open(ctx.report.path("summary.md")) as f:
            self.assertIn("3 test binaries run (1 at a time", f.read())


class BudgetAndReport(unittest.TestCase):
    def test_step_shares_bounded_by_the_budget(self):
        b = Budget(100)
        self.assertAlmostEqual(b.begin_step(30), 30, delta=1)
        self.assertAlmostEqual(b.cap(50), 30, delta=1)
        b.extend_step(45)
        self.assertAlmostEqual(b.left(), 75, delta=1)
        self.assertAlmostEqual(b.begin_step(1000), 100, delta=1)
        b.start -= 98  # as if 98 s had passed
        self.assertTrue(b.out_of_time())

    def test_eight_files_from_the_start_and_a_running_row(self):
        with tempfile.TemporaryDirectory() as d:
            report = Report(os.path.join(d, "out"), ["# head"], Budget(60))
            self.assertEqual(sorted(os.listdir(report.out)), sorted(OUT_FILES))
            report.record("smoke", "ok", 1)
            report.start("tests")
            with open(report.path("summary.md")) as f:
                text = f.read()
            self.assertIn("| smoke | ok | 1 |", text)
            self.assertIn("| tests | running (started at", text)
            self.assertTrue(text.rstrip().endswith("Files: " + " ".join(OUT_FILES)))


if __name__ == "__main__":
    unittest.main()
