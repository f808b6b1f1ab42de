"""Moment model (Bingham) against the kinetic theory at the published resolution, 256² × 256,
from the developed active-nematic state, each solver at its own largest accurate step.

The criterion and the functions are those of ``benchmarks/active_fluid.py`` (same accuracy test,
same alternating timing); only what a full scan at 256² would cost on a 2-core CPU is reduced:
the developed state is reached with dt = 0.025 (the kinetic solver is stable to dt ≈ 0.057 there),
each solver's reference is its N = 1000 run instead of N = 2000, and the step counts start at
N = 354 (dt = 0.014). About 11 minutes on an idle 2-core CPU.

Usage: python benchmarks/active_fluid_published.py [--n 256]   (results go to RESULTS.md)
"""

import argparse
import datetime
import os
import sys
import time

import active_fluid as scan
import jax
from results import RESULTS, record_section

from physics.active_fluid import ActiveFluidParams

SECTION = "## active fluid at the published resolution: moment model vs kinetic, developed state"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=256, help="grid n² × n_theta = n")
    parser.add_argument("--no-record", action="store_true", help="print, do not write RESULTS")
    args = parser.parse_args()
    scan.REFERENCE_STEPS = 1000
    scan.STEP_COUNTS = (354, 250, 177, 125, 88, 62, 44, 31, 22, 16, 11, 8)
    scan.DEVELOPED_DT = 0.025
    scan.ROUNDS = 3
    params = ActiveFluidParams()
    load_before, start = os.getloadavg(), time.perf_counter()
    scan.log(f"developing {args.n}² × {args.n} to t = {scan.DEVELOPED_T:g} ...")
    developed = scan.developed_state(args.n, params)
    row = scan.moment_vs_kinetic(args.n, developed, params)
    kin, mom = row["kinetic"], row["moment"]
    load = scan.load_summary(load_before)
    command = "python benchmarks/active_fluid_published.py" + "".join(f" {a}" for a in sys.argv[1:])
    t_end = scan.T_END
    table = (
        "| solver | largest accurate dt (steps to T) | rel. error there | ms/step "
        "| wall s per unit time | u_rms / ⟨s⟩ at T (reference) |\n|---|---|---|---|---|---|\n"
        + "\n".join(
            f"| {label} | {t_end / s['steps']:.3g} ({s['steps']}) | {s['error']:.1e} | "
            f"{s['ms_per_step']:.1f} | {s['wall_s'] / t_end:.3f} | "
            f"{s['u_rms']:.4f} / {s['order']:.4f} |"
            for label, s in [(f"kinetic, n_theta = {args.n}", kin), ("moment + Bingham", mom)]
        )
    )
    section = (
        f"{SECTION}\n\n"
        f"{datetime.date.today().isoformat()}, 2-core CPU (no GPU; load average over 1, 5, 15 "
        f"min at start / end: {load}); jax {jax.__version__}; `{command}`; "
        f"{time.perf_counter() - start:.0f} s in all. Published parameters, float64, "
        f"{args.n}² × {args.n}. Both solvers from the kinetic state at t = {scan.DEVELOPED_T:g} "
        f"(reached from the plane waves with dt = {scan.DEVELOPED_DT:g}; the moment model from "
        f"its c and D) to T = {t_end:g} later. Accuracy criterion as in the section above, "
        f"reduced for cost: reference N = {scan.REFERENCE_STEPS}, N in "
        f"{list(scan.STEP_COUNTS)}, 1% in u_rms and ⟨s⟩. Timings: best of {scan.ROUNDS} "
        "alternating warm runs.\n\n"
        f"{table}\n\n"
        f"Kinetic / moment: **{kin['wall_s'] / mom['wall_s']:.1f}x per unit simulated time** "
        f"(each at its dt), {kin['ms_per_step'] / row['moment_equal_ms']:.1f}x per step at "
        f"equal dt = {t_end / kin['steps']:.3g}. The scan of each solver is in the log on stderr.\n"
    )
    print(section)
    if not args.no_record:
        record_section(SECTION, section, RESULTS)
        scan.log(f"recorded in {RESULTS}")


if __name__ == "__main__":
    main()
