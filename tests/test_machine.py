"""The CPU description behind speed figures, and the bf16 warning on CPUs without bf16."""

import pytest

from genreward_cli import machine

AVX2_ONLY = frozenset({"sse4_2", "avx", "avx2", "fma"})
ZEN4 = AVX2_ONLY | {"avx512f", "avx512bw", "avx512_bf16"}
SAPPHIRE_RAPIDS = AVX2_ONLY | {"avx512f", "amx_bf16", "amx_tile"}


@pytest.fixture
def flags(monkeypatch):
    def use(value):
        monkeypatch.setattr(machine, "cpu_flags", lambda: frozenset(value))
    return use


@pytest.mark.parametrize("value,native", [(AVX2_ONLY, False), (ZEN4, True),
                                          (SAPPHIRE_RAPIDS, True), (frozenset(), None)])
def test_native_bf16_reads_the_instruction_flags(flags, value, native):
    flags(value)
    assert machine.native_bf16() is native


def test_bf16_warning_only_on_a_cpu_without_bf16(flags):
    flags(AVX2_ONLY)
    line = machine.bf16_warning("cpu")
    assert line is not None and "\n" not in line
    assert "no bf16 instructions" in line and "5x slower" in line and machine.cpu_model() in line
    assert machine.bf16_warning("cuda") is None and machine.bf16_warning("cuda:1") is None
    flags(ZEN4)
    assert machine.bf16_warning("cpu") is None
    flags(())  # unreadable flags: nothing is claimed
    assert machine.bf16_warning("cpu") is None


def test_describe_names_model_kernels_and_bf16(flags):
    import torch

    flags(ZEN4)
    line = machine.describe()
    assert line.startswith(machine.cpu_model())
    assert f"kernels {torch.backends.cpu.get_cpu_capability()}" in line
    assert "native bf16 (avx512_bf16)" in line and "AVX-512 extensions" in line
    flags(AVX2_ONLY)
    assert "no native bf16" in machine.describe() and "AVX-512" not in machine.describe()


def test_train_agent_bf16_warns_in_one_line_on_a_cpu_without_bf16(flags, tmp_path):
    from click.testing import CliRunner

    from genreward_cli.cli import cli

    flags(AVX2_ONLY)
    args = ["train-agent", "--task", "reach-v3", "--reward", "env", "--preset", "tiny",
            "--max-steps", "10", "--steps", "12", "--prefill", "10", "--batch", "2", "--length",
            "4", "--train-ratio", "8", "--eval-every", "0", "--capacity", "100",
            "--agent", "precision=bf16",
            "--out", str(tmp_path / "run")]
    with pytest.warns(UserWarning, match="precision=bf16 on .* no bf16 instructions") as seen:
        r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0, r.output
    lines = [str(w.message) for w in seen if "bf16 instructions" in str(w.message)]
    assert len(lines) == 1 and "\n" not in lines[0]


def test_the_avx2_limit_of_make_test_reaches_the_kernels():
    """`make test` reruns the numerical tests with ATEN_CPU_CAPABILITY=avx2 and
    ONEDNN_MAX_CPU_ISA=AVX2: a process started so reports AVX2 kernels on any x86-64 CPU."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}
    out = subprocess.run([sys.executable, "-c", "from genreward_cli import machine; "
                          "print(machine.kernel_isa())"], env=env, capture_output=True,
                         text=True, check=True).stdout.strip()
    assert out == "AVX2, oneDNN max AVX2"
