"""The local model on ONNX Runtime: fp32 (`onnx`) or dynamically quantized int8 (`onnx-int8`).

The export is made once, offline, from the packaged weights (`local.model_path()`) into
`onnx_dir/<model>-<version>/`: sentence-transformers' `backend="onnx"` (optimum-onnx) writes
`onnx/model.onnx`, and `export_dynamic_quantized_onnx_model` adds `onnx/model_qint8_<config>.onnx`.
Each is built in a temporary folder beside the target and moved into place by one rename, under
an exclusive file lock (`.export.lock`), so two processes never build at once and a reader never
sees half a file. Later loads find the files and only read them.

The int8 quantization config is fixed per CPU architecture (`arm64` on ARM, `avx2` on x86: it
runs on every x86-64 core with AVX2, VNNI or not, without u8s8 saturation), not picked from the
machine's flags, so every x86 worker produces the same int8 vectors for the one int8 collection.
"""

from __future__ import annotations

import fcntl
import os
import platform
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

FP32_FILE = "model.onnx"
RUNTIMES = ("onnx", "onnx-int8")


def quantization_config() -> str:
    return "arm64" if platform.machine().lower() in {"arm64", "aarch64"} else "avx2"


def int8_file() -> str:
    return f"model_qint8_{quantization_config()}.onnx"


def export_dir(onnx_dir: str) -> Path:
    from services.embedding.backends.local import MODEL_NAME, PACKAGE

    return Path(onnx_dir) / f"{MODEL_NAME}-{metadata.version(PACKAGE)}"


@contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # an export takes seconds; wait for it
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _session_options(threads: int) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or os.cpu_count() or 1
    options.inter_op_num_threads = 1
    # Idle pool threads spin by default, burning the cores the pipeline's own work (reading,
    # chunking, upserts on the writer thread) needs between two encodes.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def _open(folder: Path, file_name: str, threads: int) -> SentenceTransformer:
    from sentence_transformers import SentenceTransformer

    model: SentenceTransformer = SentenceTransformer(
        str(folder), device="cpu", backend="onnx", local_files_only=True,
        model_kwargs={
            "file_name": file_name,
            "provider": "CPUExecutionProvider",
            "session_options": _session_options(threads),
        },
    )  # fmt: skip
    return model


def _export_fp32(target: Path) -> None:
    """The whole model folder (tokenizer, pooling, onnx/model.onnx), renamed into place."""
    from sentence_transformers import SentenceTransformer

    from services.embedding.backends.local import model_path

    staging = Path(tempfile.mkdtemp(prefix=".export-", dir=target.parent))
    try:
        model = SentenceTransformer(
            model_path(), device="cpu", backend="onnx", local_files_only=True,
            model_kwargs={"provider": "CPUExecutionProvider"},
        )  # fmt: skip
        model.save_pretrained(str(staging))
        if not (staging / "onnx" / FP32_FILE).is_file():
            raise RuntimeError("the ONNX export wrote no onnx/model.onnx")
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _export_int8(target: Path) -> None:
    """onnx/model_qint8_<config>.onnx beside the fp32 file, built in a copy, renamed in."""
    from sentence_transformers import export_dynamic_quantized_onnx_model

    staging = Path(tempfile.mkdtemp(prefix=".export-", dir=target.parent))
    try:
        work = staging / "model"
        shutil.copytree(target, work)
        model = _open(work, FP32_FILE, threads=0)
        export_dynamic_quantized_onnx_model(
            model, quantization_config(), str(work), file_suffix=f"qint8_{quantization_config()}"
        )
        built = work / "onnx" / int8_file()
        if not built.is_file():
            raise RuntimeError("the int8 quantization wrote no model file")
        built.rename(target / "onnx" / int8_file())
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def ensure_export(runtime: str, onnx_dir: str) -> tuple[Path, str]:
    """The exported folder and the file the runtime loads, exported first if missing."""
    if runtime not in RUNTIMES:
        raise ValueError(f"not an ONNX runtime: {runtime!r}")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    target = export_dir(onnx_dir)
    file_name = FP32_FILE if runtime == "onnx" else int8_file()
    with _exclusive(target.parent / f".{target.name}.export.lock"):
        if not (target / "onnx" / FP32_FILE).is_file():
            _export_fp32(target)
        if runtime == "onnx-int8" and not (target / "onnx" / file_name).is_file():
            _export_int8(target)
    return target, file_name


def load_onnx(runtime: str, *, onnx_dir: str, threads: int) -> SentenceTransformer:
    """The local model on ONNX Runtime with `threads` intra-op threads (0: every core)."""
    folder, file_name = ensure_export(runtime, onnx_dir)
    return _open(folder, file_name, threads)
