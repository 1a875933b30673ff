"""Readers that trust nothing (issue 11, items 7-9 and the libFuzzer item).

Every case asserts the exit code and exactly one stderr line naming the file and the problem
(`validate` prints its problems on stdout, one per line, exit 1; an unreadable file is one stderr
line, exit 2). Forged files are made with h5py from the repository's samples; answers are
independent of eostrace (h5py reads, file sizes, numpy).
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "samples" / "python"))
import eostrace_format as ef  # noqa: E402


def one_line(proc, *needles):
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, f"expected one stderr line, got {lines!r} (stdout {proc.stdout!r})"
    for n in needles:
        assert n in lines[0], f"{n!r} not in {lines[0]!r}"
    assert lines[0].startswith("eostrace: ")
    return lines[0]


def sample(tmp_path, name="synthetic-small.h5") -> Path:
    p = tmp_path / name
    shutil.copy(REPO / "samples" / name, p)
    return p


# -- 1. extents checked against the file size -------------------------------------------------


@pytest.fixture(scope="module")
def forged_extent(tmp_path_factory) -> Path:
    """Every unlimited series resized to 2^31 rows (sparse: the file size does not change)."""
    p = tmp_path_factory.mktemp("extent") / "forged.h5"
    shutil.copy(REPO / "samples" / "synthetic-small.h5", p)
    size = p.stat().st_size
    with h5py.File(p, "a") as f:
        for ds in f["trajectory"].values():
            if ds.maxshape[0] is None:
                ds.resize(2 ** 31, axis=0)
    with h5py.File(p, "r") as f:
        assert f["trajectory/step"].shape == (2 ** 31,)
    assert p.stat().st_size < size + (1 << 20)
    return p


@pytest.mark.parametrize("command", [["info"], ["dump", "step"], ["analyze"], ["report", "-o", "{tmp}/r.html"],
                                     ["compare", "{file}", "{file}"], ["follow", "--timeout", "5"]])
def test_forged_extent_one_line(forged_extent, eostrace_bin, tmp_path, command):
    args = [a.format(tmp=tmp_path, file=forged_extent) for a in command]
    if command[0] != "compare":
        args.insert(1, str(forged_extent))
    t0 = time.monotonic()
    proc = subprocess.run([str(eostrace_bin), *args], capture_output=True, text=True, timeout=60)
    assert time.monotonic() - t0 < 30
    assert proc.returncode == 2, proc.stdout + proc.stderr
    one_line(proc, str(forged_extent), "/trajectory/", "2147483648", "forged extent")


def test_forged_extent_validate(forged_extent, eostrace):
    t0 = time.monotonic()
    proc = eostrace("validate", forged_extent)
    assert time.monotonic() - t0 < 30
    assert proc.returncode == 1 and proc.stderr == ""
    assert f"{forged_extent}: /trajectory/step: declares extent [2147483648]" in proc.stdout


def test_one_series_forged(tmp_path, eostrace):
    p = sample(tmp_path)
    with h5py.File(p, "a") as f:
        f["trajectory/eigenvectors"].resize(2 ** 31, axis=0)
    proc = eostrace("analyze", p)
    assert proc.returncode == 2
    one_line(proc, str(p), "/trajectory/eigenvectors", "[2147483648, 4, 40]")


# -- 2. no Swift traps on bad input -------------------------------------------------------------


def npy_config(tmp_path, x: Path, y: Path, n=None) -> Path:
    data = {"kind": "npy", "x": str(x), "y": str(y)}
    if n is not None:
        data["n"] = n
    c = {"data": data, "model": {"kind": "two_layer_linear", "input_dim": 5, "width": 3},
         "learning_rate": 0.01, "steps": 2, "k": 2}
    p = tmp_path / "run.json"
    p.write_text(json.dumps(c))
    return p


@pytest.fixture
def npy20(tmp_path):
    rng = np.random.default_rng(0)
    x, y = tmp_path / "X.npy", tmp_path / "Y.npy"
    np.save(x, rng.standard_normal((20, 5)))
    np.save(y, np.sign(rng.standard_normal(20)))
    return x, y


def test_npy_shape_overflow(tmp_path, npy20, eostrace):
    x, y = npy20
    b = x.read_bytes()
    hl = int.from_bytes(b[8:10], "little")
    hdr = b[10:10 + hl].decode("latin1").replace("(20, 5)", "(4294967296, 4294967296)")
    hdr = hdr.rstrip() + " " * (hl - len(hdr.rstrip()) - 1) + "\n"
    assert len(hdr) == hl
    bad = tmp_path / "Xbig.npy"
    bad.write_bytes(b[:10] + hdr.encode("latin1") + b[10 + hl:])
    proc = eostrace("record", "--config", npy_config(tmp_path, bad, y), "--no-output")
    assert proc.returncode == 1, proc.stderr
    one_line(proc, str(bad), "[4294967296, 4294967296]", "64 bits")


@pytest.mark.parametrize("n, needle", [(-1, "must be ≥ 1, got -1"), (500, "500 samples asked, but the file has only 20 rows")])
def test_data_n(tmp_path, npy20, eostrace, n, needle):
    proc = eostrace("record", "--config", npy_config(tmp_path, *npy20, n=n), "--no-output")
    assert proc.returncode == 1, proc.stderr
    one_line(proc, needle)


def test_data_n_within_rows_still_works(tmp_path, npy20, eostrace):
    out = tmp_path / "ok.h5"
    proc = eostrace("record", "--config", npy_config(tmp_path, *npy20, n=10), "-o", out)
    assert proc.returncode == 0, proc.stderr
    with h5py.File(out, "r") as f:
        assert int(f["run"].attrs["n_samples"]) == 10


def test_n_samples_2_62(tmp_path, eostrace):
    p = sample(tmp_path)
    with h5py.File(p, "a") as f:
        f["run"].attrs.modify("n_samples", np.int64(2 ** 62))
    for cmd in ("analyze", "report"):
        proc = eostrace(cmd, p, *(["-o", tmp_path / "r.html"] if cmd == "report" else []))
        assert proc.returncode == 2, proc.stderr
        one_line(proc, str(p), "4611686018427387904")


@pytest.mark.parametrize("flags, needle", [
    (["--preset", "linear-synthetic", "--n", "4000000000000"], "sizes too large"),
    (["--preset", "linear-synthetic", "--n", "3000000"], "Gram matrix"),
    (["--preset", "fmnist-tanh", "--widths", "100000000000,100000000000"], "more parameters than fit in 64 bits"),
    (["--preset", "fmnist-tanh", "--widths", "4000000000"], "sizes too large"),
])
def test_absurd_sizes(eostrace, flags, needle):
    proc = eostrace("record", *flags, "--steps", "1", "--no-output")
    assert proc.returncode == 1, proc.stderr
    one_line(proc, "invalid configuration", needle)


# -- 3. regular files only --------------------------------------------------------------------


@pytest.mark.parametrize("command", [["validate"], ["info"], ["analyze"], ["dump", "{f}", "step"], ["report", "-o", "{tmp}/r.html"]])
def test_fifo_refused(tmp_path, eostrace_bin, command):
    fifo = tmp_path / "pipe.h5"
    os.mkfifo(fifo)
    args = [a.format(f=fifo, tmp=tmp_path) for a in command]
    if "{f}" not in command:
        args.insert(1, str(fifo))
    proc = subprocess.run([str(eostrace_bin), *args], capture_output=True, text=True, timeout=20)
    assert proc.returncode == 2
    one_line(proc, str(fifo), "is a FIFO, not a regular file")


def test_directory_refused(tmp_path, eostrace):
    proc = eostrace("info", tmp_path)
    assert proc.returncode == 2
    one_line(proc, str(tmp_path), "is a directory, not a regular file")


# -- 4. strict config keys --------------------------------------------------------------------

BASE = {"data": {"kind": "synthetic", "n": 20, "d": 5}, "model": {"kind": "two_layer_linear", "input_dim": 5, "width": 8},
        "learning_rate": 0.01, "steps": 2, "k": 2}


def yaml_of(c: dict) -> str:
    lines = []
    for k, v in c.items():
        if isinstance(v, dict):
            lines.append(f"{k}:")
            lines += [f"  {kk}: {json.dumps(vv)}" for kk, vv in v.items()]
        else:
            lines.append(f"{k}: {json.dumps(v)}")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("ext", ["json", "yaml"])
@pytest.mark.parametrize("edit, needle", [
    (lambda c: c.update(checkpoint_evry=1), 'unknown key "checkpoint_evry"; did you mean "checkpoint_every"?'),
    (lambda c: c["data"].update(nn=3), 'unknown key "data.nn"; did you mean "data.n"?'),
    (lambda c: c["model"].update(widht=3), 'unknown key "model.widht"; did you mean "model.width"?'),
    (lambda c: c["data"].update(x="X.npy"), 'key "data.x" is not used by data kind "synthetic"'),
    (lambda c: c["model"].update(widths=[3]), 'key "model.widths" is not used by model kind "two_layer_linear"'),
])
def test_strict_keys(tmp_path, eostrace, ext, edit, needle):
    c = json.loads(json.dumps(BASE))
    edit(c)
    p = tmp_path / f"run.{ext}"
    p.write_text(json.dumps(c) if ext == "json" else yaml_of(c))
    proc = eostrace("record", "--config", p, "--no-output")
    assert proc.returncode == 1
    one_line(proc, str(p), needle)


def test_known_keys_accepted(tmp_path, eostrace):
    p = tmp_path / "run.yaml"
    p.write_text(yaml_of(BASE))
    proc = eostrace("record", "--config", p, "--no-output")
    assert proc.returncode == 0, proc.stderr


# -- 5. validator gaps ------------------------------------------------------------------------


def forged(tmp_path, name, edit, src="synthetic-small.h5") -> Path:
    p = sample(tmp_path, src)
    q = p.with_name(name)
    p.rename(q)
    with h5py.File(q, "a") as f:
        edit(f)
    return q


def validate_problem(eostrace, path, *needles):
    proc = eostrace("validate", path)
    assert proc.returncode == 1 and proc.stderr == "", proc.stdout + proc.stderr
    lines = [l for l in proc.stdout.splitlines() if all(n in l for n in needles)]
    assert len(lines) == 1, proc.stdout
    assert lines[0].startswith(f"{path}: ")
    return proc


def test_model_disagrees_with_n_parameters(tmp_path, eostrace):
    model = '{"kind":"mlp","input_dim":784,"widths":[9],"activation":"tanh","bias":true}'
    p = forged(tmp_path, "model.h5", lambda f: f["run"].attrs.modify("model", model), src="fmnist-tanh-small.h5")
    with h5py.File(p, "r") as f:
        p_file = int(f["run"].attrs["n_parameters"])
    implied = 784 * 9 + 9 + 9 * 1 + 1
    validate_problem(eostrace, p, "/run@n_parameters", f"is {p_file}, but /run@model has {implied} parameters")


def test_format_version_nonsense(tmp_path, eostrace):
    p = forged(tmp_path, "version.h5", lambda f: f.attrs.modify("format_version", np.array([-1, 0], dtype=np.int64)))
    for cmd in ("validate", "info"):
        proc = eostrace(cmd, p)
        assert proc.returncode == 2
        one_line(proc, str(p), "/@format_version", "[-1, 0] is not a format version")


def test_nan_in_X(tmp_path, eostrace):
    def edit(f):
        f["data/X"][3, 2] = np.nan
    p = forged(tmp_path, "nanx.h5", edit)
    validate_problem(eostrace, p, "/data/X", "1 non-finite values", "row 3")
    assert any("/data/X" in e for e in ef.validate(p))  # the Python validator agrees (schema "finite")


def test_completed_with_zero_steps(tmp_path, eostrace):
    def edit(f):
        for d in f["trajectory"].values():
            if d.maxshape[0] is None and d.name.split("/")[-1] in {
                    "step", "loss", "residual", "output_norm_sq", "sharpness", "eigenvalues", "eigenvectors", "dtf",
                    "outputs", "output_layer_sharpness", "grad_norm"}:
                d.resize(0, axis=0)
    p = forged(tmp_path, "zero.h5", edit)
    assert ef.read_status(str(p)) == "completed"
    validate_problem(eostrace, p, "/run/status", "is 'completed' but /trajectory/step has no rows")


def test_broadcast_eigenvectors(tmp_path, eostrace):
    def edit(f):
        v = f["trajectory/eigenvectors"][...]
        v[:] = v[:, :1, :]
        f["trajectory/eigenvectors"][...] = v
    p = forged(tmp_path, "bvec.h5", edit)
    with h5py.File(p, "r") as f:
        T = f["trajectory/eigenvectors"].shape[0]
    validate_problem(eostrace, p, "/trajectory/eigenvectors", f"not orthonormal in {T} rows", "identical")


def test_broadcast_eigenvalues(tmp_path, eostrace):
    def edit(f):
        e = f["trajectory/eigenvalues"][...]
        e[:] = e[:, :1]
        f["trajectory/eigenvalues"][...] = e
    p = forged(tmp_path, "bval.h5", edit)
    with h5py.File(p, "r") as f:
        T, k = f["trajectory/eigenvalues"].shape
    validate_problem(eostrace, p, "/trajectory/eigenvalues", f"all {k} eigenvalues are the same value in {T} rows")


def test_samples_still_valid(eostrace):
    for s in sorted((REPO / "samples").glob("*.h5")):
        proc = eostrace("validate", s)
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_libver_latest_validates(tmp_path, eostrace):
    """h5py (HDF5 2.0) with libver="latest" writes REFERENCE_LIST with a datatype HDF5 1.10.8 cannot
    decode; H5DSis_scale iterates every attribute and failed on it, so validate called every scale
    "not a dimension scale". Scales are now recognised by their CLASS attribute opened by name."""
    out = tmp_path / "latest.h5"
    orig = h5py.File

    def latest(path, mode="r", libver=None, **kw):
        return orig(path, mode, libver="latest" if mode == "w" else libver, **kw)

    with orig(REPO / "samples" / "synthetic-small.h5", "r") as f:
        series = {k: f["trajectory"][k][...] for k in f["trajectory"]}
        run = f["run"].attrs
        kw = dict(learning_rate=float(run["learning_rate"]), model=ef._decode(run["model"]),
                  Y=f["data/Y"][...], X=f["data/X"][...], n_parameters=int(run["n_parameters"]))
    ef.h5py.File = latest
    try:
        ef.write_recording(out, **kw, **series)
    finally:
        ef.h5py.File = orig
    with orig(out, "r") as f:
        assert f.id.get_create_plist().get_version()[0] >= 2  # superblock of the latest format
    proc = eostrace("validate", out)
    assert proc.returncode == 0 and proc.stdout.strip() == f"{out}: ok", proc.stdout + proc.stderr
    assert eostrace("info", out).returncode == 0


# -- fuzz regression: local heap without NUL --------------------------------------------------


def old_style_recording(tmp_path, eostrace) -> Path:
    """synthetic-small.h5's series rewritten by the Python writer in its default (earliest) format,
    whose groups have local heaps; it validates."""
    p = tmp_path / "old-style-groups.h5"
    with h5py.File(REPO / "samples" / "synthetic-small.h5", "r") as f:
        t = {k: f["trajectory"][k][...] for k in ("step", "loss", "residual", "output_norm_sq", "sharpness",
                                                  "eigenvalues", "eigenvectors", "dtf")}
        ef.write_recording(p, learning_rate=0.02, model={"kind": "external"}, Y=f["data/Y"][...], X=f["data/X"][...], **t)
    assert eostrace("validate", p).returncode == 0
    return p


def test_local_heap_without_nul(tmp_path, eostrace):
    """libFuzzer found a heap overflow in libhdf5 (strdup in H5G__ent_to_link) on a local heap whose
    data segment does not end in NUL. Such files are refused before libhdf5 opens them."""
    p = old_style_recording(tmp_path, eostrace)
    b = bytearray(p.read_bytes())
    i = b.find(b"HEAP\x00\x00\x00\x00")
    assert i > 0
    size, _free, addr = struct.unpack("<QQQ", bytes(b[i + 8:i + 32]))
    assert b[addr + size - 1] == 0
    b[addr + size - 1] = ord("e")
    p.write_bytes(bytes(b))
    for cmd in ("validate", "info"):
        proc = eostrace(cmd, p)
        assert proc.returncode == 2
        one_line(proc, str(p), "local heap at byte", "does not end in a NUL")


@pytest.mark.parametrize("edit", ["self-loop", "two-block-loop", "past-segment"])
def test_local_heap_free_list_refused(tmp_path, eostrace, edit):
    """libFuzzer (validator, run 5) found libhdf5 1.10.8 allocating without end in
    H5HL__fl_deserialize: a local heap free block whose next offset leads back to a block already
    passed (`validate` reached 24 GB resident in 65 s). A block whose 16 bytes run past the data
    segment is read past it. Both are refused before libhdf5 opens the file."""
    src = old_style_recording(tmp_path, eostrace)
    b = bytearray(src.read_bytes())
    for m in re.finditer(re.escape(b"HEAP\x00\x00\x00\x00"), bytes(b)):  # size, free-list head, segment address
        i = m.start()
        size, head, addr = struct.unpack("<QQQ", bytes(b[i + 8:i + 32]))
        assert 1 < head and head + 16 <= size
        nxt, length = struct.unpack("<QQ", bytes(b[addr + head:addr + head + 16]))
        assert nxt == 1 and head + length <= size  # one free block, the end of the list after it
        if length >= 32:  # room for two blocks
            break
    else:
        pytest.fail("no local heap with a free block of 32 bytes")
    if edit == "self-loop":
        b[addr + head:addr + head + 8] = struct.pack("<Q", head)
        problem = f"free list returns to the block at offset {head}"
    elif edit == "two-block-loop":  # the first block's 16 bytes become a second block pointing back
        b[addr + head:addr + head + 16] = struct.pack("<QQ", head + 16, 16)
        b[addr + head + 16:addr + head + 32] = struct.pack("<QQ", head, 16)
        problem = f"free list returns to the block at offset {head}"
    else:
        b[i + 16:i + 24] = struct.pack("<Q", size - 8)
        problem = f"free block at offset {size - 8} runs past its {size}-byte data segment"
    p = tmp_path / f"{edit}.h5"
    p.write_bytes(bytes(b))
    if edit != "past-segment":  # independent answer: libhdf5 itself, capped at 1 GB, runs out of memory
        import resource
        dump = subprocess.run(["h5dump", "-H", str(p)], capture_output=True, timeout=120,
                              preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30)))
        assert dump.returncode != 0
    for cmd in ("validate", "info"):
        proc = eostrace(cmd, p)
        assert proc.returncode == 2, (cmd, proc.returncode, proc.stderr)
        one_line(proc, str(p), "corrupt HDF5 file", "object /", f": local heap at {i}: {problem}")


@pytest.mark.parametrize("edit", ["no-nul", "early-nul"])
def test_attribute_name_not_terminated(eostrace, tmp_path, edit):
    """libFuzzer found a heap overflow in libhdf5 1.10.8 (strdup in H5MM_xstrdup from
    H5O_attr_decode): an attribute name without a NUL inside its stored length is read past the
    object-header chunk. Any name whose first NUL is not its last stored byte is refused before
    libhdf5 reads it; h5dump (the same libhdf5) confirms such a name is unreadable."""
    p = tmp_path / f"{edit}.h5"
    with h5py.File(p, "w", libver="earliest") as f:
        f.attrs["abcdefg"] = np.int64(3)
    intact = eostrace("info", p)  # before the edit: read, then found not to be a recording
    assert intact.returncode == 2 and "not an eostrace trajectory" in intact.stderr, intact.stderr
    b = bytearray(p.read_bytes())
    i = b.find(b"abcdefg\x00")
    assert i > 0 and struct.unpack("<H", b[i - 6:i - 4])[0] == 8  # v1 attribute message: name size 8
    if edit == "no-nul":
        b[i + 7] = ord("h")
    else:
        b[i + 3] = 0
    p.write_bytes(bytes(b))
    dump = subprocess.run(["h5dump", "-A", str(p)], capture_output=True, text=True, timeout=60)
    assert "error getting attribute information" in dump.stdout + dump.stderr
    for cmd in ("validate", "info"):
        proc = eostrace(cmd, p)
        assert proc.returncode == 2, (cmd, proc.returncode, proc.stderr)
        one_line(proc, str(p), "corrupt HDF5 file", "object /: attribute",
                 "name of 8 stored bytes is not one NUL-terminated string of that length")


def test_local_heap_segment_undefined(eostrace, tmp_path):
    """A group's local heap naming its data segment at the undefined address: libhdf5 1.10.8
    allocates the segment and then fails to read it (h5dump, the same libhdf5, dies of SIGSEGV on
    this file). Refused before libhdf5 opens it: one line naming the group, exit 2."""
    p = tmp_path / "heap.h5"
    with h5py.File(p, "w", libver="earliest") as f:
        f.create_group("g").create_dataset("x", data=np.arange(3.0))
    b = bytearray(p.read_bytes())
    heaps = [m.start() for m in re.finditer(re.escape(b"HEAP\x00\x00\x00\x00"), bytes(b))]
    assert len(heaps) == 2  # the root group's and /g's
    b[heaps[-1] + 24:heaps[-1] + 32] = b"\xff" * 8
    p.write_bytes(bytes(b))
    dump = subprocess.run(["h5dump", "-H", str(p)], capture_output=True, text=True, timeout=60)
    assert dump.returncode != 0
    for cmd in ("validate", "info"):
        proc = eostrace(cmd, p)
        assert proc.returncode == 2, (cmd, proc.returncode, proc.stderr)
        one_line(proc, str(p), "corrupt HDF5 file", "object /g:", "names its data segment at an undefined address")


def test_zero_width_series_validates_without_trap(eostrace, tmp_path):
    """libFuzzer (validator harness) found a Swift index trap in our value scan: a series with an
    axis of extent 0 (eigenvalues [T, 0]) in a file without /run (so no k to compare the axis
    with) was scanned as rows of one value. validate now lists the file's problems, exit 1."""
    p = tmp_path / "k0.h5"
    shutil.copy(REPO / "samples" / "synthetic-small.h5", p)
    with h5py.File(p, "r+") as f:
        t = f["trajectory"]
        T, n = t["eigenvalues"].shape[0], f["data/X"].shape[0]
        del t["eigenvalues"], t["eigenvectors"], f["run"]
        t.create_dataset("eigenvalues", shape=(T, 0), dtype="f8", maxshape=(None, 0))
        t.create_dataset("eigenvectors", shape=(T, 0, n), dtype="f8", maxshape=(None, 0, None))
    proc = eostrace("validate", p)
    assert proc.returncode == 1, (proc.returncode, proc.stderr[-2000:])
    assert f"{p}: /run: missing required group" in proc.stdout


def _many_datatypes(p, libver):
    e = h5py.enum_dtype({"RED": 0, "GREEN": 1, "BLUE_WITH_A_LONG_NAME": 42}, basetype="i4")
    nested = np.dtype([("x", "<i4"), ("inner", [("y", "<f8"), ("name", "S3")]), ("arr", "<f4", (2, 3))])
    with h5py.File(p, "w", libver=libver) as f:
        a = f.create_group("scalars").attrs  # (at most 8 attributes per object: compact storage, walked)
        a["i8"], a["u64"], a["f2"], a["f8"], a["c16"] = np.int8(1), np.uint64(2), np.float16(1), 1.0, 1 + 2j
        a = f.create_group("strings").attrs
        a["b"], a["s"], a["fs"], a["op"] = np.bool_(True), "vlen", np.bytes_(b"fixed"), np.void(b"\x01\x02\x03")
        a = f.create_group("composite").attrs
        a.create("e", data=np.array(42, dtype=e), dtype=e)
        a["cmp"] = np.zeros((), dtype=nested)
        a["vl"] = np.array([np.arange(3), np.arange(5)], dtype=h5py.vlen_dtype("i4"))
        a["ref"] = f["scalars"].ref
        a["arr"] = np.zeros(2, dtype=np.dtype(("<i2", (4,))))
        d = f.create_group("d")  # (at most 8 links per group: compact links, walked)
        d.create_dataset("cmp", data=np.zeros(3, dtype=nested))
        d.create_dataset("arr", shape=(2,), dtype=np.dtype(("<f8", (3, 2))))
        d.create_dataset("enum", data=np.array([0, 1, 42], dtype=e))
        d.create_dataset("vl", data=np.array([np.arange(2), np.arange(4)], dtype=object), dtype=h5py.vlen_dtype("f8"))
        d.create_dataset("str", data=["a", "bcd"], dtype=h5py.string_dtype())
        d.create_dataset("ref", data=[f["scalars"].ref], dtype=h5py.ref_dtype)
        d.create_dataset("regionref", data=[d["cmp"].regionref[1:]], dtype=h5py.regionref_dtype)
        d.create_dataset("big", data=np.zeros(2, dtype=np.dtype([(f"m{i}", "<f8") for i in range(300)])))


@pytest.mark.parametrize("libver", ["earliest", "v110"])
def test_datatype_check(eostrace, tmp_path, libver):
    """Datatypes are checked to fit inside the bytes stored for them before libhdf5 1.10.8 decodes
    them (it strdups enum and compound member names unbounded: the H5MM_xstrdup heap overflow
    libFuzzer found, asan-h5mm-xstrdup-enum-member-names.h5.gz). Every datatype h5py writes in the
    1.8 (versions 1-2) and 1.10 (version 3) encodings passes — integers, floats, complex, bool,
    strings, opaque, enums, nested compounds with array members, variable-length sequences,
    references, arrays, a 300-member compound; h5dump (libhdf5 1.10.8) reads the file. The same
    file with an enum's member count raised to 511 is refused, once in an attribute, once in a
    dataset: one line naming the object, exit 2."""
    p = tmp_path / "types.h5"
    _many_datatypes(p, libver if libver == "earliest" else ("v110", "v110"))
    dump = subprocess.run(["h5dump", "-H", str(p)], capture_output=True, text=True, timeout=60)
    assert dump.returncode == 0, dump.stderr
    intact = eostrace("info", p)
    assert intact.returncode == 2 and "not an eostrace trajectory" in intact.stderr, intact.stderr
    b = p.read_bytes()
    # enum of 3 members, 4 bytes, then its integer base type: [class 8 | version 1-3] 03 00 00 04 00 00 00
    enums = [m.start() for m in re.finditer(rb"[\x18\x28\x38]\x03\x00\x00\x04\x00\x00\x00[\x10\x20\x30]", b)]
    assert len(enums) == 2, enums
    for at, obj in zip(enums, ("object /composite: attribute \"e\":", "object /d/enum:")):
        c = bytearray(b)
        c[at + 1:at + 3] = b"\xff\x01"
        q = tmp_path / f"enum-{at}.h5"
        q.write_bytes(bytes(c))
        for cmd in ("validate", "info"):
            proc = eostrace(cmd, q)
            assert proc.returncode == 2, (cmd, proc.returncode, proc.stderr)
            one_line(proc, str(q), "corrupt HDF5 file", obj, "enumeration member")


@pytest.mark.parametrize("edit", ["integer-precision", "float-exponent-size", "float-mantissa-past-precision"])
def test_bit_fields_outside_element(eostrace, tmp_path, edit):
    """libhdf5 converts numbers bit field by bit field as the datatype stores them: a forged integer
    precision made H5T__bit_copy read outside the conversion buffer (SIGBUS; libFuzzer,
    sigbus-h5t-bit-copy-integer-precision.h5.gz). Integer and floating-point fields must lie
    inside the element, with the limits H5Tset_precision / H5Tset_fields keep (every h5py type
    passes: test_datatype_check)."""
    p = tmp_path / f"{edit}.h5"
    _many_datatypes(p, "earliest")
    b = bytearray(p.read_bytes())
    if edit == "integer-precision":  # version 1 unsigned fixed-point (/scalars@u64), 8 bytes, offset 0, precision 64
        at = b.find(bytes.fromhex("1000000008000000" "00004000"))
        b[at + 10:at + 12] = struct.pack("<H", 65)
        expect = "integer of 8 bytes declares 65 bits at bit 0"
    else:  # version 1 IEEE float64: sign 63, offset 0, precision 64, exponent 11 at 52, mantissa 52 at 0
        at = b.find(bytes.fromhex("11203f0008000000" "00004000340b0034"))
        if edit == "float-exponent-size":
            b[at + 13] = 0
            expect = "exponent 0 at 52"
        else:
            b[at + 15] = 65
            expect = "mantissa 65 at 0"
    assert at > 0
    p.write_bytes(bytes(b))
    for cmd in ("validate", "info"):
        proc = eostrace(cmd, p)
        assert proc.returncode == 2, (cmd, proc.returncode, proc.stderr)
        one_line(proc, str(p), "corrupt HDF5 file", expect)


def test_chunk_count_bounded(eostrace, tmp_path):
    """An extent spanning more chunks than the file could index (each allocated chunk takes at
    least 16 bytes of index and data; 4,096 more may be unallocated) is refused before libhdf5
    reads it: libhdf5 1.10.8 builds bookkeeping for every selected chunk first (libFuzzer's slow
    unit: eigenvectors [3, 1, 61443, 29] in chunks of [5, 1, 3, 2] in a 40 KB file took `dump`
    5 s and 2 GB to fail). Here 4.8 million one-element chunks, whose bytes (38 MB) alone would
    pass the extent check."""
    p = tmp_path / "chunks.h5"
    _python_recording(p)
    with h5py.File(p, "r+") as f:
        del f["trajectory/eigenvectors"]
        f["trajectory"].create_dataset("eigenvectors", shape=(300, 4, 40, 100), chunks=(1, 1, 1, 1), dtype="f8")
    size = p.stat().st_size
    proc = eostrace("dump", p, "/trajectory/eigenvectors")
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    one_line(proc, str(p), "/trajectory/eigenvectors", "in chunks of [1, 1, 1, 1]: 4800000 chunks",
             f"more than a file of {size} bytes can index (at most {size // 16 + 4096}")
    assert "rewrite it with larger chunks: h5repack -l CHUNK=" in proc.stderr, proc.stderr
    proc = eostrace("validate", p)
    assert proc.returncode == 1 and "4800000 chunks, more than a file" in proc.stdout, proc.stdout + proc.stderr
    # The fix the line names is true: this dataset is genuine (sparse), and with larger chunks it reads.
    fixed = tmp_path / "rechunked.h5"
    subprocess.run(["h5repack", "-l", "/trajectory/eigenvectors:CHUNK=10x4x40x100", str(p), str(fixed)], check=True)
    proc = eostrace("dump", fixed, "/trajectory/eigenvectors")
    assert proc.returncode == 0, proc.stderr


LIBHDF5_FAULTS = {  # fuzz regression -> (object, problem) of the one line
    "asan-h5o-attr-message-past-header.h5.gz": ("object /: attribute", "run past the attribute message"),
    "asan-h5hg-read-vlen-past-object.h5.gz": ("object /trajectory/sharpness: attribute \"DIMENSION_LIST\"",
                                              "global heap collection at 2048, which has no such object"),
    "asan-h5a-read-vlen-element-size.h5.gz": ("object /: attribute \"format\"",
                                              "variable-length datatype declares 1-byte elements (stored ones take 16)"),
    "oom-h5c-protect-continuation-length.h5.gz": ("object /:", "object header continuation chunk of 2348810488 bytes "
                                                  "at 18616 runs past the end of the file (37816 bytes)"),
    "fpe-h5d-chunk-set-info-layout-v1-zero-dimension.h5.gz": ("object /trajectory/dtf:",
                                                              "chunk layout element size 0 differs from the datatype size 8"),
    "segv-h5f-accum-read-symbol-table-undefined.h5.gz": ("object /data:", "symbol table names its B-tree at an "
                                                         "undefined address, outside the file (38356 bytes)"),
    "oom-h5c-protect-continuation-message-size-0.h5.gz": ("object /:", "continuation message of 0 bytes (it takes 16)"),
    "asan-h5mm-xstrdup-enum-member-names.h5.gz": ("object /run: attribute \"model\"", "enumeration member 0 name has "
                                                  "no NUL inside the datatype's 20 stored bytes"),
    "asan-h5hg-read-stored-base-address.h5.gz": ("object /run: attribute \"model\"", "variable-length element names "
                                                 "object 0 of the global heap collection at 2048, which has no such object"),
    "segv-h5f-addr-decode-vlen-type-15.h5.gz": ("object /trajectory/eigenvalues: attribute \"DIMENSION_LIST\"",
                                                "variable-length datatype of type 15 (0 sequence, 1 string)"),
    "sigbus-h5t-bit-copy-integer-precision.h5.gz": ("object /trajectory/step:", "integer of 8 bytes declares 0 bits at bit 64"),
    "oom-h5c-protect-driver-info-block-size.h5.gz": ("superblock:", "driver information block of 4294967311 bytes "
                                                     "at 96 runs past the end of the file (607 bytes)"),
    "asan-h5o-driver-info-message-length.h5.gz": ("object superblock extension:", "driver info message of 19 bytes "
                                                  "declares 65535 bytes of driver information (it holds 8)"),
    "oom-h5t-conv-vlen-sequence-length.h5.gz": ("object /run: attribute \"model\"", "variable-length sequence of "
                                                "4294901811 × 1 bytes is larger than the file (41445 bytes)"),
    "oom-h5hl-free-list-cycle.h5.gz": ("object /run:", "local heap at 1808: free list returns to the block at offset 16"),
}


@pytest.mark.parametrize("name", sorted(LIBHDF5_FAULTS))
def test_libhdf5_fault_regressions(eostrace, tmp_path, name):
    """Inputs on which libFuzzer saw libhdf5 1.10.8 overflow a buffer (ASan: memcpy in
    H5O__msg_iterate_real, H5HG_read) are refused by ObjectHeaderCheck before libhdf5 reads them:
    exactly one line naming the file, the object and the problem, exit 2."""
    gz = REPO / "samples" / "fuzz-regressions" / name
    p = tmp_path / name.removesuffix(".gz")
    p.write_bytes(gzip.decompress(gz.read_bytes()))
    obj, problem = LIBHDF5_FAULTS[name]
    for cmd in ("validate", "info"):
        proc = eostrace(cmd, p)
        assert proc.returncode == 2, (cmd, proc.returncode, proc.stderr)
        one_line(proc, str(p), "corrupt HDF5 file", obj, problem)
    assert not (REPO / "samples" / "fuzz-regressions" / "libhdf5-unfixed").exists() or not list(
        (REPO / "samples" / "fuzz-regressions" / "libhdf5-unfixed").glob("*.gz"))


def _max_rss_mb(cmd) -> tuple[int, float]:
    """Exit code and peak resident memory (MB) of one command, measured by a fresh interpreter that
    forks and execs it (wait4: that child only; its floor is the small interpreter's own size, not
    this test process's, which a fork would count)."""
    code = ("import os, sys\npid = os.fork()\nif pid == 0:\n    os.execv(sys.argv[1], sys.argv[1:])\n"
            "_, st, ru = os.wait4(pid, 0)\nprint(os.waitstatus_to_exitcode(st), ru.ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code, *map(str, cmd)], capture_output=True, text=True,
                         timeout=120).stdout.split()
    return int(out[0]), int(out[1]) / 1024


def test_forged_continuation_length_costs_no_memory(eostrace_bin, tmp_path):
    """The forged continuation length (2.3 GB in a 37 KB file) made libhdf5 1.10.8 allocate and touch
    its declared size before comparing it with the end of allocation: `info` reached 4.6 GB resident
    and 6 s before its "addr overflow" line. Refused first, the command stays small."""
    p = tmp_path / "forged.h5"
    p.write_bytes(gzip.decompress((REPO / "samples" / "fuzz-regressions" /
                                   "oom-h5c-protect-continuation-length.h5.gz").read_bytes()))
    with open(p, "rb") as f:  # independent answer: the continuation message's length field as stored
        f.seek(808)
        addr, length = struct.unpack("<QQ", f.read(16))
    assert (addr, length) == (18616, 2348810488) and length > p.stat().st_size
    for cmd in ("info", "validate"):
        code, mb = _max_rss_mb([eostrace_bin, cmd, str(p)])
        assert code == 2 and mb < 400, (cmd, code, mb)


def _find_layout(b: bytes, chunk: int, elem: int) -> tuple[int, int]:
    """(offset of the v3 chunked layout message of a 1-d dataset, its v1 B-tree address)."""
    import re
    hits = [m.start() for m in re.finditer(re.escape(b"\x03\x02\x02") + b"(.{8})" + re.escape(struct.pack("<II", chunk, elem)),
                                           b, re.S)]
    assert hits, "no chunk layout message"
    btree = struct.unpack("<Q", b[hits[0] + 3:hits[0] + 11])[0]
    assert b[btree:btree + 5] == b"TREE\x01"
    return hits[0], btree


@pytest.mark.parametrize("what", ["local-heap-segment", "filtered-chunk", "continuation"])
def test_metadata_past_the_end_refused(eostrace, tmp_path, what):
    """Sizes libhdf5 1.10.8 allocates before checking them against the end of allocation (an
    object-header continuation chunk, a local heap's data segment, a stored chunk, filtered or not)
    are refused when they run past the end of the file: one line naming the object, exit 2. h5py
    (the same libhdf5) confirms the forged object is unreadable."""
    p = tmp_path / f"{what}.h5"
    if what == "filtered-chunk":
        with h5py.File(p, "w", libver="earliest") as f:
            f.create_dataset("x", data=np.arange(1000.0), chunks=(100,), compression="gzip")
        b = bytearray(p.read_bytes())
        _, btree = _find_layout(bytes(b), 100, 8)
        b[btree + 24:btree + 28] = struct.pack("<I", 0x7FFFFFF0)  # key 0: stored size of chunk 0
        obj, expect = "object /x:", "chunk of 2147483632 bytes at"
    elif what == "local-heap-segment":
        _python_recording(p)
        b = bytearray(p.read_bytes())
        i = b.find(b"HEAP\x00\x00\x00\x00")
        assert i > 0
        b[i + 8:i + 16] = struct.pack("<Q", 1 << 31)
        obj, expect = "object /", "local heap data segment of 2147483648 bytes at"
    else:
        _python_recording(p)
        b = bytearray(p.read_bytes())
        i = b.find(struct.pack("<HHI", 0x10, 16, 0))  # v1 header message: continuation, 16 bytes, flags 0
        assert i > 0
        b[i + 16:i + 24] = struct.pack("<Q", 1 << 32)
        obj, expect = "object /", "object header continuation chunk of 4294967296 bytes at"
    p.write_bytes(bytes(b))
    size = p.stat().st_size
    with pytest.raises(Exception):
        with h5py.File(p, "r") as f:
            f.visititems(lambda name, o: o[...] if isinstance(o, h5py.Dataset) else None)
    for cmd in ("validate", "info"):
        proc = eostrace(cmd, p)
        assert proc.returncode == 2, (cmd, proc.returncode, proc.stderr)
        one_line(proc, str(p), obj, expect, f"runs past the end of the file ({size} bytes)")


def test_regressions_clean_under_asan():
    """Every committed fuzz regression, run alone through both libFuzzer harnesses (AddressSanitizer,
    libhdf5 uninstrumented but its mallocs and memcpys intercepted): no ASan report and no
    out-of-memory, i.e. the pre-checks refuse each file before libhdf5 faults on it (or, for
    stackoverflow-h5g-get-name-by-addr, the reader no longer makes the call that recursed)."""
    build = subprocess.run(["bash", str(REPO / "scripts" / "libfuzz.sh"), "--build-only"], capture_output=True,
                           text=True, timeout=900)
    assert build.returncode == 0, build.stderr[-3000:]
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0:allocator_may_return_null=1", SWIFT_BACKTRACE="enable=no")
    files = sorted((REPO / "samples" / "fuzz-regressions").glob("*.h5.gz"))
    assert len(files) >= 8
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"eostrace-asan-regress-{os.getpid()}"
    tmp.mkdir(exist_ok=True)
    try:
        for gz in files:
            f = tmp / gz.name.removesuffix(".gz")
            f.write_bytes(gzip.decompress(gz.read_bytes()))
            for h in ("reader", "validator"):
                proc = subprocess.run([str(REPO / ".build" / "libfuzz" / f"{h}-fuzzer"), "-rss_limit_mb=2048",
                                       "-malloc_limit_mb=1000000", str(f)], capture_output=True, text=True,
                                      timeout=120, env=env)
                assert proc.returncode == 0 and "ERROR:" not in proc.stderr, (gz.name, h, proc.stderr[-2000:])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _python_recording(path):
    with h5py.File(REPO / "samples" / "synthetic-small.h5", "r") as f:
        t = {k: f["trajectory"][k][...] for k in ("step", "loss", "residual", "output_norm_sq", "sharpness",
                                                  "eigenvalues", "eigenvectors", "dtf")}
        ef.write_recording(path, learning_rate=0.02, model={"kind": "external"}, Y=f["data/Y"][...], X=f["data/X"][...], **t)


def test_stored_base_address_ignored(eostrace, tmp_path):
    """libhdf5 takes addresses relative to where it finds the superblock, whatever base address
    the superblock stores. The pre-check used the stored one, so a forged base address hid every
    object from it while libhdf5 read them (libFuzzer: a heap overflow in H5HG_read behind it,
    asan-h5hg-read-stored-base-address.h5.gz). With the base address changed (and the end of
    allocation by as much, which libhdf5 moves back by the difference), h5dump
    (libhdf5 1.10.8) and validate read the recording; with a local heap corrupted as well, the
    pre-check still finds it."""
    p = tmp_path / "base.h5"
    _python_recording(p)
    b = bytearray(p.read_bytes())
    assert b[8] == 0 and struct.unpack("<Q", b[24:32])[0] == 0  # superblock v0, base address 0
    b[24:32] = struct.pack("<Q", 240)
    eoa = struct.unpack("<Q", b[40:48])[0]  # libhdf5 moves the end of allocation back by the 240 bytes
    b[40:48] = struct.pack("<Q", eoa + 240)
    p.write_bytes(bytes(b))
    assert subprocess.run(["h5dump", "-H", str(p)], capture_output=True, timeout=60).returncode == 0
    proc = eostrace("validate", p)
    assert proc.returncode == 0 and proc.stdout.strip() == f"{p}: ok", proc.stdout + proc.stderr
    heaps = [m.start() for m in re.finditer(re.escape(b"HEAP\x00\x00\x00\x00"), bytes(b))]
    b[heaps[-1] + 24:heaps[-1] + 32] = b"\xff" * 8
    p.write_bytes(bytes(b))
    for cmd in ("validate", "info"):
        proc = eostrace(cmd, p)
        assert proc.returncode == 2, (cmd, proc.returncode, proc.stderr)
        one_line(proc, str(p), "corrupt HDF5 file", "names its data segment at an undefined address")


@pytest.mark.parametrize("mutation", ["element-size-small", "element-size-large", "stored-larger", "stored-smaller"])
def test_chunk_index_mismatch_refused(eostrace, tmp_path, mutation):
    """Chunked reads (H5D__select_read, H5F_block_read) trust the layout's element dimension and
    the stored size of an unfiltered chunk in the v1 B-tree: a mismatch with the datatype size or
    with the chunk dimensions x element size is refused before libhdf5 reads (one line, exit 2)."""
    p = tmp_path / f"{mutation}.h5"
    _python_recording(p)
    with h5py.File(p, "r") as f:
        d = f["trajectory/loss"]
        assert d.compression is None and d.dtype.itemsize == 8
        chunk = d.chunks[0]
    b = bytearray(p.read_bytes())
    # layout message v3, chunked, 2 dimensions: B-tree address (8), chunk dims (4 each), element size last
    at, btree = _find_layout(bytes(b), chunk, 8)
    assert struct.unpack("<I", bytes(b[btree + 24:btree + 28]))[0] == chunk * 8  # key 0: stored size
    if mutation == "element-size-small":
        b[at + 15:at + 19] = struct.pack("<I", 4)
        expect = "chunk layout element size 4 differs from the datatype size 8"
    elif mutation == "element-size-large":
        b[at + 15:at + 19] = struct.pack("<I", 16)
        expect = "chunk layout element size 16 differs from the datatype size 8"
    else:
        stored = chunk * 8 * 16 if mutation == "stored-larger" else 16
        b[btree + 24:btree + 28] = struct.pack("<I", stored)
        expect = f"unfiltered chunk at [0] is stored with {stored} bytes"
    p.write_bytes(bytes(b))
    for cmd in ("validate", "info"):
        proc = eostrace(cmd, p)
        assert proc.returncode == 2, (cmd, proc.returncode, proc.stderr)
        one_line(proc, str(p), "object /trajectory", expect)


# -- libFuzzer (short) ------------------------------------------------------------------------


def test_libfuzzer_short():
    """1,000 libFuzzer executions each on the reader and the validator (scripts/libfuzz.sh, fork mode,
    seed 1; the first run also compiles the harnesses, ~2.5 min here, later runs reuse them): no
    crash, trap or ASan report in our code. Faults inside libhdf5 1.10.8 that our pre-checks do not
    refuse yet are counted, not failed (listed in samples/fuzz-regressions/README.md)."""
    proc = subprocess.run(["bash", str(REPO / "scripts" / "libfuzz.sh"), "1000"], capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    for name in ("reader", "validator"):
        line = next(l for l in proc.stdout.splitlines() if l.startswith(name + ":"))
        execs = int(line.split(":")[1].split()[0])
        assert execs >= 1000 and "crashes in our code 0," in line, line


def test_driver_information_checked(eostrace, tmp_path):
    """The superblock's driver information is checked before libhdf5 reads it. libhdf5 1.10.8
    allocates a version-0 driver information block's declared size before comparing it with the
    end of allocation (libFuzzer: a 4 GiB malloc in H5C_protect,
    oom-h5c-protect-driver-info-block-size.h5.gz), and copies a superblock extension's driver info
    message by its declared length (a heap overflow under ASan,
    asan-h5o-driver-info-message-length.h5.gz). Genuine driver information passes: a family
    file's first member (h5py, driver="family") reaches libhdf5, which asks for the family driver,
    and a recording repacked with a superblock extension (h5repack -L -S PAGE) validates."""
    fam = tmp_path / "fam%d.h5"
    with h5py.File(fam, "w", driver="family", memb_size=1 << 20) as f:
        f["x"] = np.arange(10.0)
    member = tmp_path / "fam0.h5"
    raw = bytearray(member.read_bytes())
    assert raw[8] == 0 and raw[13] == 8  # version-0 superblock, 8-byte addresses
    block = struct.unpack_from("<Q", raw, 48)[0]
    assert raw[block + 8:block + 16] == b"NCSAfami" and struct.unpack_from("<I", raw, block + 4)[0] == 8
    proc = eostrace("info", member)
    one_line(proc, str(member), "family driver should be used")
    struct.pack_into("<I", raw, block + 4, 0xFFFFFFFF)
    forged = tmp_path / "forged.h5"
    forged.write_bytes(raw)
    for cmd in ("info", "validate"):
        proc = eostrace(cmd, forged)
        assert proc.returncode == 2, (cmd, proc.stderr)
        one_line(proc, str(forged), "corrupt HDF5 file", "superblock: driver information block of 4294967311 bytes "
                 f"at {block} runs past the end of the file ({len(raw)} bytes)")
    paged = tmp_path / "paged.h5"
    subprocess.run(["h5repack", "-L", "-S", "PAGE", "-G", "4096", "-P", "1", str(REPO / "samples" / "synthetic-small.h5"),
                    str(paged)], check=True)
    head = paged.read_bytes()[:48]
    assert head[8] == 3 and struct.unpack_from("<Q", head, 20)[0] != 2**64 - 1  # superblock 3 with an extension
    proc = eostrace("validate", paged)
    assert proc.returncode == 0 and proc.stderr == "", proc.stdout + proc.stderr
