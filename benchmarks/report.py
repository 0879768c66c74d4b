"""Plain-text table of a benchmark record: medians with [min, max] over repeats."""
from __future__ import annotations

from typing import Any

__all__ = ["format_report"]


def _mmm(s: dict[str, Any], fmt: str = "{:.3g}") -> str:
    return f"{fmt.format(s['median'])} [{fmt.format(s['min'])}, {fmt.format(s['max'])}]"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    line = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths))  # noqa: E731
    return [line(header), line(["-" * w for w in widths])] + [line(r) for r in rows]


def format_report(record: dict[str, Any]) -> str:
    """The record of one ``python -m benchmarks`` run as text tables (median [min, max])."""
    cfg, out = record["config"], []
    out.append(f"ddlib benchmark  size={cfg['size']['name']}  d={cfg['size']['d']}  width={cfg['size']['width']}  "
               f"n={cfg['size']['n']}  m1={cfg['size']['m1']}  m2={cfg['size']['m2']}  "
               f"steps={cfg['size']['steps1']}/{cfg['size']['steps2']}  restarts={cfg['size']['restarts']}")
    out.append(f"device={cfg['device']}  dtype={cfg['dtype']}  threads={cfg['torch_threads']}  "
               f"repeats={cfg['repeats']}  wall={record['wall_time_s']:.0f} s  "
               f"load average {record['machine']['load_average_start']} -> {record['machine']['load_average_end']}")
    if "compare" in record:
        c = record["compare"]
        mem = c["memory_measure"]
        out += ["", "ddlib vs peer-style reference (fresh process each; median [min, max])"]
        rows = [[name, _mmm(c[name]["whole_s"]), _mmm(c[name]["wall_s"]), _mmm(c[name][mem], "{:.0f}"),
                 _mmm(c[name]["process_peak_rss_mb"], "{:.0f}"), _mmm(c[name]["test_mse"], "{:.4f}"),
                 _mmm(c[name]["stage1_matching_loss"], "{:.4f}")] for name in c["variants"]]
        out += _table(["variant", "whole process s", "distill s", f"{mem}", "process peak RSS MB", "test MSE",
                       "stage-1 cos loss"], rows)
        out.append(f"ddlib vs reference: whole-process speed-up {_mmm(c['whole_speedup'])};  distill speed-up "
                   f"{_mmm(c['speedup'])};  memory ratio {_mmm(c['memory_ratio'])};  process peak ratio "
                   f"{_mmm(c['process_peak_ratio'])}")
    if "limit" in record:
        li = record["limit"]
        out += ["", "the limit: distillation vs one streaming pass over the real data (same process)"]
        rows = [["ddlib.distill", _mmm(li["distill_s"])], ["G_D pass", _mmm(li["gd_pass_s"])],
                ["G_D + Gram passes", _mmm(li["gd_gram_passes_s"])]]
        rows += [[f"  phase {k}", f"{_mmm(v)}  ({100 * li['phase_share'][k]:.0f}%)"] for k, v in li["phases"].items()]
        out += _table(["what", "seconds"], rows)
        out.append(f"distill / G_D pass: {_mmm(li['ratio_to_gd_pass'])};  distill / (G_D + Gram passes): "
                   f"{_mmm(li['ratio_to_gd_gram_passes'])}")
    if "scaling" in record:
        sc = record["scaling"]
        out += ["", f"scaling of ddlib.distill (memory: {sc['memory_measure']})"]
        for ax in ("n", "width", "d"):
            if ax not in sc:
                continue
            rows = [[p[ax], _mmm(p["wall_s"]), _mmm(p["peak_memory_mb"], "{:.0f}"), _mmm(p["test_mse"], "{:.4f}")]
                    for p in sc[ax]["points"]]
            out += _table([ax, "wall s", "peak MB", "test MSE"], rows)
            out.append(f"  exponents vs {ax}: time {sc[ax]['time_exponent']:.2f}, memory {sc[ax]['memory_exponent']:.2f}")
    if "search_cost" in record:
        sc = record["search_cost"]
        pr = sc["problem"]
        out += ["", f"search cost: one certified memory search / one ddlib.distill, one thread, same process "
                    f"(r={pr['r']} d={pr['d']} L={pr['width']} n={sc['n_train']} target {pr['targets']}; distill "
                    f"m1={sc['distill']['m1']} m2={sc['distill']['m2']})"]
        rows = [["distill", _mmm(sc["distill"]["wall_s"]), _mmm(sc["distill"]["cpu_s"]), "", "", "", ""]]
        for name, v in sc["searches"].items():
            c = v["certified"]
            rows.append([f"search ({name})", _mmm(v["wall_s"]), _mmm(v["cpu_s"]), _mmm(v["ratio"]),
                         f"{v['ratio_of_minima']:.2f} (CPU {v['ratio_of_minima_cpu']:.2f})",
                         f"{v['probes']['stage1']} + {v['probes']['pairs']}",
                         f"m1*={c['m1_star']} ({c['cert_m1']}, {c['cert_m2']})" if c["points"] is not None else
                         "none within the caps" + (f" (censored: {c['censored']})" if c["censored"] else "")])
        out += _table(["what", "wall s", "CPU s", "ratio to distill", "ratio of minima", "probes (stage 1 + pairs)",
                       "certified"], rows)
    if "selection_cost" in record:
        sel = record["selection_cost"]
        out += ["", f"selection cost: greedy stage-2 selection through a search's probes m2 = "
                    f"{', '.join(map(str, sel['probes']))} on one W1 (pool {sel['pool']}, n={sel['n_train']}, one "
                    f"thread); the same points in both: {sel['same_points']}"]
        out += _table(["ddlib s", "reference s (start over, a Gram per candidate)", "speed-up"],
                      [[_mmm(sel["ddlib_s"]), _mmm(sel["reference_s"]), _mmm(sel["speedup"])]])
    if "targets" in record:
        t = record["targets"]
        out += ["", f"targets (size {t['size']}):"]
        if "whole_speedup" in t:
            wanted = "no target at this size" if t["whole_speedup_min"] is None else (
                f">= {t['whole_speedup_min']}: {t['whole_speedup_met']}")
            out.append(f"  whole-process speed-up {t['whole_speedup']:.2f} ({wanted});  quality "
                       f"({t['quality_rule']}): {t['quality_met']};  process peak RSS ratio "
                       f"{t['process_peak_ratio']:.2f} <= 1: {t['memory_met']}")
        if "limit_ratio" in t:
            out.append(f"  distill / (G_D + Gram passes) {t['limit_ratio']:.2f} <= {t['limit_ratio_max']}: "
                       f"{t['limit_met']}")
        if "search_cost" in t:
            out.append(f"  certified search / distill (lean, median) {t['search_cost']:.2f} <= {t['search_cost_max']}: "
                       f"{t['search_cost_met']}")
    return "\n".join(out)
