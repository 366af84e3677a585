"""GraNd speed: per-example gradient norms by `torch.func` (vmap of grad) against a loop of backward passes.

Same proxy (the default head: MLP 384 → 128 → 45 on MiniLM-sized embeddings), same inputs, same process; checks
that the two give the same norms (max abs difference ≤ 1e-4) and reports the speed ratio.

    python benchmarks/dynamics_speed.py [--examples 4000] [--repeats 3]

Writes benchmarks/results/dynamics_speed.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from thresher.models.proxy import HeadProxy, per_example_grad_norms, per_example_grad_norms_loop

RESULTS = Path(__file__).parent / "results"


def best_of(repeats: int, run) -> tuple[float, torch.Tensor]:
    """The fastest of `repeats` timed runs, and the last result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - started)
    assert result is not None
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=4000)
    parser.add_argument("--dimension", type=int, default=384)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--classes", type=int, default=45)
    parser.add_argument("--chunk", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    torch.manual_seed(0)
    model = HeadProxy(args.dimension, args.classes, hidden=args.hidden).eval()
    features = torch.nn.functional.normalize(torch.randn(args.examples, args.dimension), dim=1)
    labels = torch.randint(0, args.classes, (args.examples,))
    n_params = sum(p.numel() for p in model.parameters())

    per_example_grad_norms(model, (features[:64],), labels[:64], chunk=args.chunk)  # warm-up
    vmap_seconds, vectorised = best_of(
        args.repeats, lambda: per_example_grad_norms(model, (features,), labels, chunk=args.chunk)
    )
    loop_seconds, looped = best_of(args.repeats, lambda: per_example_grad_norms_loop(model, (features,), labels))
    max_difference = float((vectorised - looped).abs().max())
    result = {
        "model": f"HeadProxy MLP {args.dimension} → {args.hidden} → {args.classes} ({n_params:,} parameters)",
        "examples": args.examples,
        "vmap_chunk": args.chunk,
        "torch_func_seconds": round(vmap_seconds, 3),
        "backward_loop_seconds": round(loop_seconds, 3),
        "speedup": round(loop_seconds / vmap_seconds, 1),
        "torch_func_examples_per_second": round(args.examples / vmap_seconds),
        "max_abs_difference": max_difference,
        "equal_within_1e-4": max_difference <= 1e-4,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": f"{platform.processor() or platform.machine()}, CPU only (shared with other jobs)",
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "dynamics_speed.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "# GraNd: torch.func vs a per-example backward loop",
        "",
        f"{result['model']}, {args.examples} examples, best of {args.repeats}, {result['threads']} CPU threads.",
        "",
        "| method | seconds | examples/s |",
        "|---|---|---|",
        f"| torch.func vmap(grad), chunks of {args.chunk} | {vmap_seconds:.3f} "
        f"| {args.examples / vmap_seconds:,.0f} |",
        f"| loop of backward passes | {loop_seconds:.3f} | {args.examples / loop_seconds:,.0f} |",
        "",
        f"Speed-up: **{result['speedup']}x**. Largest difference between the two norms: {max_difference:.2e} "
        f"({'within' if result['equal_within_1e-4'] else 'NOT within'} 1e-4).",
        "",
    ]
    (RESULTS / "dynamics_speed.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
