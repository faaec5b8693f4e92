"""The benchmark cases: what is measured, with which tool, against which limit.

A *row* is one line of the report (for example "HDF5 load 500x256x256, playNano-written
file"); its *roles* are the columns: ``afmio``, ``playnano`` and the raw limits for the
same bytes (``fromfile``, ``readinto``, ``tofile``, ``floor``). One case can serve several
rows (playNano's default HDF5 save is the peer of both afmio HDF5 save rows).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benv import Environment
from inputs import BUNDLES, Inputs, Size
from runner import Case

#: Modules imported before the timed call, so each library's call (not its imports) is timed.
PREIMPORT = {
    "hdf5": ["h5py"],
    "h5": ["h5py"],
    "h5-jpk": ["h5py"],
    "aris": ["h5py"],
    "ome-tiff": ["tifffile"],
    "ome.tif": ["tifffile"],
    "jpk": ["tifffile"],
    "gif": ["PIL.Image", "PIL.ImageDraw", "PIL.ImageFont", "matplotlib", "matplotlib.colors", "matplotlib.cm"],
    "ome-zarr": ["zarr", "numcodecs"],
}

KIND_TITLE = {"h5": "HDF5", "npz": "NPZ", "ome.tif": "OME-TIFF"}
KIND_FORMAT = BUNDLES


@dataclass
class Row:
    """One report line."""

    key: str
    section: str
    title: str
    op: str  # load / save / gif / startup / lazy / convert
    fmt: str = ""
    size: str = ""
    stack_nbytes: int | None = None
    roles: dict[str, str] = field(default_factory=dict)  # role -> case key
    note: str = ""
    peer: str = "playNano"  # who the "playnano" role is (AFMReader for the single-image formats)


@dataclass
class Plan:
    """Every case and every row, in run order."""

    cases: dict[str, Case] = field(default_factory=dict)
    rows: dict[str, Row] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    def add_case(self, case: Case) -> str:
        self.cases.setdefault(case.key, case)
        return case.key

    def row(self, key: str, **kwargs: Any) -> Row:
        if key not in self.rows:
            self.rows[key] = Row(key, **kwargs)
        return self.rows[key]


@dataclass
class Settings:
    quick: bool
    repeats_small: int
    repeats_large: int
    repeats_playnano_small: int
    repeats_playnano_large: int
    gif_size: Size
    gif_array_size: Size
    interop_loads: bool = True  # playNano also loads the afmio-written bundles


def _rep(settings: Settings, small: bool, env: str) -> int:
    if env == "playnano":
        return settings.repeats_playnano_small if small else settings.repeats_playnano_large
    return settings.repeats_small if small else settings.repeats_large


def raw_read_cases(plan: Plan, path: Path, tag: str, small: bool, settings: Settings) -> dict[str, str]:
    """``np.fromfile`` and ``readinto`` of exactly the bytes a load case reads."""
    rep = _rep(settings, small, "afmio")
    return {
        "fromfile": plan.add_case(Case(f"raw fromfile {tag}", "", "fromfile", "afmio",
                                       {"op": "raw_fromfile", "path": str(path)}, repeats=rep, warm=(path,))),
        "readinto": plan.add_case(Case(f"raw readinto {tag}", "", "readinto", "afmio",
                                       {"op": "raw_readinto", "path": str(path)}, repeats=rep, warm=(path,))),
    }


def build(env: Environment, inputs: Inputs, sizes: list[Size], settings: Settings) -> Plan:
    """All cases for the sizes, formats and tools that are available."""
    plan = Plan()
    pn = env.playnano_python is not None
    for size in sizes:
        _bundle_cases(plan, env, inputs, size, settings, pn)
        _asd_cases(plan, env, inputs, size, settings, pn)
        _aris_cases(plan, env, inputs, size, settings, pn)
    _sample_cases(plan, env, inputs, settings, pn)
    _afmreader_cases(plan, env, inputs, settings, pn)
    _gif_cases(plan, env, inputs, settings, pn)
    _startup_cases(plan, env, inputs, settings, pn)
    _scale_cases(plan, env, inputs, settings)
    for case in plan.cases.values():
        case.row = ",".join(r.key for r in plan.rows.values() if case.key in r.roles.values())
    return plan


# --------------------------------------------------------------------------- bundles
def _bundle_cases(plan: Plan, env: Environment, inputs: Inputs, size: Size, st: Settings, pn: bool) -> None:
    arr = inputs.arrays.get(size.label)
    if arr is None:
        return
    L = size.label
    out = inputs.out_dir
    tofile = plan.add_case(Case(f"raw tofile {L}", "", "tofile", "afmio",
                                {"op": "raw_tofile", "array": str(arr), "out": str(out / f"raw-{L}.bin")},
                                repeats=_rep(st, size.small, "afmio"), warm=(arr,)))
    variants = {
        "h5": [("default", {}), ("none", {"compression": "none"})],
        "npz": [("default", {}), ("deflate", {"compression": "deflate"})],
        "ome.tif": [("default", {})],
    }
    for kind, fmt in KIND_FORMAT.items():
        pn_save = None
        if pn:
            pn_save = plan.add_case(Case(
                f"playnano save {kind} {L}", "", "playnano", "playnano",
                {"op": "playnano_save", "kind": kind, "array": str(arr), "out": str(out / f"pn-{L}.{kind}")},
                repeats=_rep(st, size.small, "playnano"), warm=(arr,)))
        for variant, options in variants[kind]:
            row = plan.row(f"save {kind} {variant} {L}", section="Bundles: save (synthetic float32)",
                           title=f"{KIND_TITLE[kind]} save, {_variant_text(variant)}", op="save", fmt=fmt,
                           size=L, stack_nbytes=size.nbytes)
            row.roles["tofile"] = tofile
            if pn_save:
                row.roles["playnano"] = pn_save
            if env.can(fmt, "write"):
                row.roles["afmio"] = plan.add_case(Case(
                    f"afmio save {kind} {variant} {L}", "", "afmio", "afmio",
                    {"op": "afmio_save", "array": str(arr), "out": str(out / f"afmio-{variant}-{L}.{kind}"),
                     "options": options, "preimport": PREIMPORT.get(kind, [])},
                    repeats=_rep(st, size.small, "afmio"), warm=(arr,)))
            else:
                row.note = f"afmio has no {fmt} writer yet"
        for writer in ("playnano", "afmio"):
            path = inputs.bundles.get((writer, kind, L))
            if path is None:
                continue
            who = "playNano" if writer == "playnano" else "afmio"
            row = plan.row(f"load {kind} {writer}-file {L}", section="Bundles: load (synthetic float32)",
                           title=f"{KIND_TITLE[kind]} load, {who}-written file",
                           op="load", fmt=fmt, size=L, stack_nbytes=size.nbytes)
            row.roles.update(raw_read_cases(plan, path, f"{writer}-{L}.{kind}", size.small, st))
            if env.can(fmt, "read"):
                row.roles["afmio"] = plan.add_case(Case(
                    f"afmio load {writer}-{L}.{kind}", "", "afmio", "afmio",
                    {"op": "afmio_load", "path": str(path), "preimport": PREIMPORT.get(kind, [])},
                    repeats=_rep(st, size.small, "afmio"), warm=(path,)))
            else:
                row.note = f"afmio has no {fmt} reader yet"
            if pn and (writer == "playnano" or st.interop_loads):
                row.roles["playnano"] = plan.add_case(Case(
                    f"playnano load {writer}-{L}.{kind}", "", "playnano", "playnano",
                    {"op": "playnano_load", "path": str(path)},
                    repeats=_rep(st, size.small, "playnano"), warm=(path,)))


def _variant_text(variant: str) -> str:
    return {"default": "default settings", "none": 'compression="none"',
            "deflate": 'compression="deflate"'}.get(variant, variant)


# --------------------------------------------------------------------------- instrument files
def _load_row(plan: Plan, env: Environment, st: Settings, pn: bool, *, key: str, section: str, title: str,
              fmt: str, path: Path, pn_channel: str, small: bool, size: str = "",
              stack_nbytes: int | None = None, floor: bool = False) -> Row:
    row = plan.row(key, section=section, title=title, op="load", fmt=fmt, size=size, stack_nbytes=stack_nbytes)
    tag = path.name
    row.roles.update(raw_read_cases(plan, path, tag, small, st))
    if floor:
        row.roles["floor"] = plan.add_case(Case(f"raw asd-floor {tag}", "", "floor", "afmio",
                                                {"op": "raw_asd_floor", "path": str(path)},
                                                repeats=_rep(st, small, "afmio"), warm=(path,)))
    if env.can(fmt, "read"):
        row.roles["afmio"] = plan.add_case(Case(f"afmio load {tag}", "", "afmio", "afmio",
                                                {"op": "afmio_load", "path": str(path),
                                                 "preimport": PREIMPORT.get(fmt, [])},
                                                repeats=_rep(st, small, "afmio"), warm=(path,)))
    else:
        row.note = f"afmio has no {fmt} reader yet"
    if pn:
        row.roles["playnano"] = plan.add_case(Case(f"playnano load {tag}", "", "playnano", "playnano",
                                                   {"op": "playnano_load", "path": str(path),
                                                    "channel": pn_channel},
                                                   repeats=_rep(st, small, "playnano"), warm=(path,)))
    return row


def _asd_cases(plan: Plan, env: Environment, inputs: Inputs, size: Size, st: Settings, pn: bool) -> None:
    path = inputs.asd.get(size.label)
    if path is None:
        return
    _load_row(plan, env, st, pn, key=f"load asd {size.label}", section="Instrument formats: load",
              title="ASD load, synthetic v1, 2 channels (TP+ER)", fmt="asd", path=path, pn_channel="TP",
              small=size.small, size=size.label, stack_nbytes=size.nbytes, floor=True)


def _aris_cases(plan: Plan, env: Environment, inputs: Inputs, size: Size, st: Settings, pn: bool) -> None:
    path = inputs.aris.get(size.label)
    if path is None:
        return
    _load_row(plan, env, st, pn, key=f"load aris {size.label}", section="Instrument formats: load",
              title="ARIS load, synthetic, 1 channel (float32 metres)", fmt="aris", path=path,
              pn_channel="HeightTrace", small=size.small, size=size.label, stack_nbytes=size.nbytes)


def _sample_cases(plan: Plan, env: Environment, inputs: Inputs, st: Settings, pn: bool) -> None:
    for sample in inputs.samples.values():
        _load_row(plan, env, st, pn, key=f"load sample {sample.key}", section="Instrument formats: load",
                  title=sample.title, fmt=sample.fmt, path=sample.path, pn_channel=sample.pn_channel,
                  small=True, floor=sample.fmt == "asd")


def _afmreader_cases(plan: Plan, env: Environment, inputs: Inputs, st: Settings, pn: bool) -> None:
    """afmio against AFMReader (installed with playNano) on the same real files."""
    for sample in inputs.peer_samples.values():
        row = plan.row(f"load afmreader {sample.key}", section="Other formats: afmio vs AFMReader (same file)",
                       title=sample.title, op="load", fmt=sample.fmt, peer="AFMReader")
        tag = f"afmreader-{sample.key}"
        row.roles.update(raw_read_cases(plan, sample.path, tag, True, st))
        if env.can(sample.fmt, "read"):
            row.roles["afmio"] = plan.add_case(Case(f"afmio load {tag}", "", "afmio", "afmio",
                                                    {"op": "afmio_load", "path": str(sample.path),
                                                     "preimport": PREIMPORT.get(sample.fmt, ["h5py", "tifffile"])},
                                                    repeats=_rep(st, True, "afmio"), warm=(sample.path,)))
        else:
            row.note = f"afmio has no {sample.fmt} reader in this build"
        if pn:
            row.roles["playnano"] = plan.add_case(Case(f"AFMReader load {tag}", "", "playnano", "playnano",
                                                       {"op": "afmreader_load", "path": str(sample.path),
                                                        "loader": sample.loader, "channel": sample.channel,
                                                        "preimport": ["h5py", "tifffile"]},
                                                       repeats=_rep(st, True, "playnano"), warm=(sample.path,)))


# --------------------------------------------------------------------------- GIF
def _gif_cases(plan: Plan, env: Environment, inputs: Inputs, st: Settings, pn: bool) -> None:
    arr = inputs.arrays.get(st.gif_array_size.label)
    if arr is None:
        return
    size = st.gif_size
    L = size.label
    out = inputs.out_dir
    base = {"array": str(arr), "frames": size.n}
    small = size.small
    row = plan.row(f"gif {L}", section="Rendered export", title="GIF export, default settings", op="gif",
                   fmt="gif", size=L, stack_nbytes=size.nbytes)
    row.roles["floor"] = plan.add_case(Case(f"raw gif-floor {L}", "", "floor", "afmio",
                                            {"op": "raw_gif_floor", **base, "out": str(out / f"floor-{L}.gif"),
                                             "preimport": PREIMPORT["gif"]},
                                            repeats=_rep(st, small, "afmio"), warm=(arr,)))
    if env.can("gif", "write"):
        row.roles["afmio"] = plan.add_case(Case(f"afmio gif {L}", "", "afmio", "afmio",
                                                {"op": "afmio_save", **base, "out": str(out / f"afmio-{L}.gif"),
                                                 "preimport": PREIMPORT["gif"]},
                                                repeats=_rep(st, small, "afmio"), warm=(arr,)))
    else:
        row.note = "afmio has no gif writer yet"
    if pn:
        row.roles["playnano"] = plan.add_case(Case(f"playnano gif {L}", "", "playnano", "playnano",
                                                   {"op": "playnano_gif", **base, "out": str(out / f"pn-{L}.gif")},
                                                   repeats=_rep(st, small, "playnano"), warm=(arr,)))


# --------------------------------------------------------------------------- start-up
def _startup_cases(plan: Plan, env: Environment, inputs: Inputs, st: Settings, pn: bool) -> None:
    rep = _rep(st, True, "afmio")
    sec = "Start-up (cold interpreter)"
    row = plan.row("startup import", section=sec, title="import afmio + registry.formats() vs import numpy",
                   op="startup")
    row.roles["numpy"] = plan.add_case(Case("import numpy", "", "numpy", "afmio",
                                            {"op": "import", "modules": ["numpy"]}, repeats=rep))
    row.roles["afmio"] = plan.add_case(Case("import afmio + formats()", "", "afmio", "afmio",
                                            {"op": "import", "modules": ["afmio"], "formats": True}, repeats=rep))
    row.roles["afmio_import"] = plan.add_case(Case("import afmio", "", "afmio_import", "afmio",
                                                   {"op": "import", "modules": ["afmio"]}, repeats=rep))
    row.roles["python"] = plan.add_case(Case("python -c pass", "", "python", "afmio",
                                             argv=[env.python, "-c", "pass"], repeats=rep))
    if pn:
        row.roles["playnano"] = plan.add_case(Case("import playnano.io.loader", "", "playnano", "playnano",
                                                   {"op": "import", "modules": ["playnano.io.loader"]},
                                                   repeats=_rep(st, True, "playnano")))
    row = plan.row("startup cli formats", section=sec, title="`afmio formats` (whole process)", op="startup")
    row.roles["afmio"] = plan.add_case(Case("cli afmio formats", "", "afmio", "afmio",
                                            argv=[*env.afmio_cli, "formats"], repeats=rep))
    row.roles["python"] = "python -c pass"
    target = _info_target(inputs)
    if target is not None:
        row = plan.row("startup cli info", section=sec, title=f"`afmio info {target.name}` (whole process)",
                       op="startup")
        row.roles["afmio"] = plan.add_case(Case(f"cli afmio info {target.name}", "", "afmio", "afmio",
                                                argv=[*env.afmio_cli, "info", str(target)], repeats=rep,
                                                warm=(target,)))
        row.roles["python"] = "python -c pass"


def _info_target(inputs: Inputs) -> Path | None:
    if "asd_sample_0" in inputs.samples:
        return inputs.samples["asd_sample_0"].path
    for path in inputs.asd.values():
        return path
    for path in inputs.bundles.values():
        return path
    return None


# --------------------------------------------------------------------------- scale
def _scale_cases(plan: Plan, env: Environment, inputs: Inputs, st: Settings) -> None:
    big = inputs.big_asd
    sec = "Scale: out-of-core"
    if big is None:
        plan.skipped.append(inputs.big_note or "no large ASD input")
        return
    size_gib = big.stat().st_size / (1 << 30)
    rep = 1 if st.quick else 3
    if env.can("asd", "read"):
        row = plan.row("lazy asd big", section=sec, title=f"lazy=True walk of every frame, {big.name} "
                       f"({size_gib:.2f} GiB)", op="lazy", fmt="asd", note=inputs.big_note,
                       stack_nbytes=big.stat().st_size)
        row.roles["afmio"] = plan.add_case(Case(f"afmio lazy walk {big.name}", "", "afmio", "afmio",
                                                {"op": "afmio_lazy_walk", "path": str(big)}, repeats=rep,
                                                warm=(big,)))
        row.roles.update(raw_read_cases(plan, big, big.name, False, st))
    else:
        plan.skipped.append("lazy walk: afmio has no ASD reader yet")
    if env.can("asd", "read") and env.can("ome-zarr", "write"):
        out = inputs.out_dir / (big.stem + ".ome.zarr")
        row = plan.row("convert asd big ome-zarr", section=sec,
                       title=f"`afmio convert {big.name} {out.name}` (streaming, {size_gib:.2f} GiB)",
                       op="convert", fmt="ome-zarr", note=inputs.big_note, stack_nbytes=big.stat().st_size)
        row.roles["afmio"] = plan.add_case(Case(
            f"afmio convert {big.name} -> ome.zarr", "", "afmio", "afmio",
            {"op": "afmio_cli", "argv": ["convert", str(big), str(out), "--overwrite"], "out": str(out),
             "preimport": PREIMPORT["ome-zarr"]}, repeats=1 if st.quick else 2, warm=(big,)))
    else:
        plan.skipped.append("OME-Zarr conversion: needs the asd reader and the ome-zarr writer")
